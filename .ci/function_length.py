#!/usr/bin/env python3
# Lists the functions in include/ longer than N lines (default 80) and exits 1 when there is one:
# a brace block opened by a line that looks like a function definition, counted to its close.
import re,sys,glob
N=int(sys.argv[1]) if len(sys.argv)>1 else 80
long=0
for f in sorted(glob.glob('include/**/*.hpp',recursive=True)):
    lines=open(f).read().split('\n')
    i=0
    while i<len(lines):
        l=lines[i]
        if re.search(r'\)\s*(const)?\s*(noexcept)?\s*(->\s*[\w:<>]+)?\s*\{\s*$',l) and not re.match(r'\s*(if|for|while|switch|else|do)\b',l.strip()) and not re.search(r'\b(if|for|while|switch)\s*\(',l) and '[' not in l.split('(')[0]:
            depth=0;j=i
            while j<len(lines):
                depth+=lines[j].count('{')-lines[j].count('}')
                if depth<=0 and j>i: break
                j+=1
            if j-i+1>N:
                long+=1
                print(f"{f}:{i+1}: {j-i+1} lines: {l.strip()[:80]}")
        i+=1
sys.exit(1 if long else 0)
