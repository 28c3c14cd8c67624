# hwaware scatter plot: gnuplot predicted_vs_measured5.gp renders predicted_vs_measured5.png
if (!exists('out')) out = '/work/main/benchmarks/results/predictor/2026-12-04/seeds456/predicted_vs_measured5.png'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 640,560 noenhanced font 'sans,10'
} else {
  set terminal png size 640,560 noenhanced
}
set output out
set datafile separator ','
set title 'Predicted vs measured latency, held-out networks (Intel(R) Xeon(R) Processor, 2 threads, batch 1)'
set xlabel 'measured (ms)'
set ylabel 'predicted (ms)'
set logscale x
set logscale y
set xrange [0.05084963859:2.83611728]
set yrange [0.05084963859:2.83611728]
set grid lc rgb '#e4e4e4'
set key top left box opaque
set samples 200
data = '/work/main/benchmarks/results/predictor/2026-12-04/seeds456/predicted_vs_measured5.csv'
plot \
  '+' using 1:((1-0.1)*$1):((1+0.1)*$1) with filledcurves fc rgb '#bbbbbb' fs transparent solid 0.3 noborder title '+/-10%', \
  x with lines lc rgb '#222222' lw 1.2 title 'y = x', \
  data every ::1 using 2:(column(1) == 0 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#d62728' title 'LUT', \
  data every ::1 using 2:(column(1) == 1 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#1f77b4' title 'MLP', \
  data every ::1 using 2:(column(1) == 2 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#9467bd' title 'kernel MLP', \
  data every ::1 using 2:(column(1) == 3 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#2ca02c' title 'analytic', \
  data every ::1 using 2:(column(1) == 4 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#7f7f7f' title '2nd session'
