# perf/plot_bench.gp: bar chart of urt's advantage over each peer
# (called by perf/bench_table.py).
#   gnuplot -e "data='bench-ratios.dat'; out='bench-ratios.png'" perf/plot_bench.gp
# data columns: index name advantage target_advantage color(1 met, 2 short, 3 none)
stats data using 1 nooutput
n = STATS_records
set terminal pngcairo size (n < 12 ? 900 : 60 + 55 * n),560 font "sans,9"
set output out
set termoption noenhanced
set title "urt vs its peer: times better (above 1: urt wins; marks: target)"
set style fill solid 0.8 border -1
set grid ytics
set key top left
set logscale y 2
set ylabel "times better than the peer (log scale)"
set xtics rotate by -50 left nomirror
set xrange [-0.7:n-0.3]
set palette defined (1 "#2ca02c", 2 "#d62728", 3 "#999999")
set cbrange [1:3]
unset colorbox
set arrow from -0.7,1 to n-0.3,1 nohead lc rgb "black" lw 1
# bars grow from 1 (even with the peer), up when urt wins, down when it loses
plot data using 1:3:($1-0.35):($1+0.35):(1):3:5:xticlabels(2) with boxxyerror lc palette notitle, \
     data using 1:4 with points pt 7 ps 1.2 lc rgb "black" title "target"
