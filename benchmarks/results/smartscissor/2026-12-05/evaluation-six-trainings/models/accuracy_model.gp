# hwaware scatter plot: gnuplot accuracy_model.gp renders accuracy_model.png
if (!exists('out')) out = '/work/main/benchmarks/results/smartscissor/2026-12-05/evaluation-six-trainings/models/accuracy_model.png'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 640,560 noenhanced font 'sans,10'
} else {
  set terminal png size 640,560 noenhanced
}
set output out
set datafile separator ','
set title 'accuracy model (Eq. 3): test accuracy against MACs, per dimension'
set xlabel 'MACs (fraction of the base network)'
set ylabel 'test accuracy (DIC inputs)'
set xrange [0.16:1.04]
set yrange [0.718071781:0.7744457882]
set grid lc rgb '#e4e4e4'
set key bottom right box opaque
set samples 200
data = '/work/main/benchmarks/results/smartscissor/2026-12-05/evaluation-six-trainings/models/accuracy_model.csv'
plot \
  data every ::1 using 2:(column(1) == 0 ? $3 : 1/0) with lines lw 2 lc rgb '#1f77b4' title 'depth (fitted)', \
  data every ::1 using 2:(column(1) == 1 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#1f77b4' title 'depth', \
  data every ::1 using 2:(column(1) == 2 ? $3 : 1/0) with lines lw 2 lc rgb '#ff7f0e' title 'width (fitted)', \
  data every ::1 using 2:(column(1) == 3 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#ff7f0e' title 'width', \
  data every ::1 using 2:(column(1) == 4 ? $3 : 1/0) with lines lw 2 lc rgb '#2ca02c' title 'resolution (fitted)', \
  data every ::1 using 2:(column(1) == 5 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '#2ca02c' title 'resolution'
