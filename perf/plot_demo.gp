# perf/plot_demo.gp: the demo's plots (called by perf/bench_table.py).
#   gnuplot -e "what='latency'; data='latency.dat'; out='x.png'; title='...'" perf/plot_demo.gp
#   what='latency':    data columns lo_us hi_us corrected_% raw_%  (log-spaced bins)
#   what='throughput': data columns seconds requests/s, one block per phase
set terminal pngcairo size 900,480 font "sans,10"
set output out
set termoption noenhanced
set grid
set key top right
if (what eq 'latency') {
	set title title.": latency histogram (open loop, fixed rate)"
	set logscale x 10
	set xlabel "latency (us, log scale)"
	set ylabel "% of requests"
	set format x "%g"
	plot data using (sqrt($1*$2)):3 with histeps lw 2 lc rgb "#1f77b4" \
		title "from the due time (corrected)", \
	     data using (sqrt($1*$2)):4 with histeps lw 1 dt 2 lc rgb "#ff7f0e" \
		title "from the actual send (uncorrected)"
} else {
	set title title.": throughput over time (100 ms bins)"
	set xlabel "seconds"
	set ylabel "requests per second"
	set yrange [0:*]
	set format y "%.0f"
	plot data index 0 using 1:2 with steps lw 2 lc rgb "#1f77b4" title "closed loop", \
	     data index 1 using 1:2 with steps lw 2 lc rgb "#2ca02c" title "open loop (fixed rate)"
}
