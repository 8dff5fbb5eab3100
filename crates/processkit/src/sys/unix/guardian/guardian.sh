# processkit-guardian: kills what process $1 left behind once it is gone
trap '' HUP INT QUIT PIPE
cgs=''
pgs=' '
add_pg() {
	case ${1-} in '' | *[!0-9]*) return ;; esac
	pgs="$pgs$1 "
	case ${2-} in '' | *[!0-9]*) eval "st_$1=" ;; *) eval "st_$1=$2" ;; esac
}
while read -r op arg; do
	case $op in
	cg) case $arg in /*) cgs="$cgs$arg
" ;; esac ;;
	pg) add_pg $arg ;;
	unpg) case $arg in '' | *[!0-9]*) ;; *)
		case $pgs in *" $arg "*) pgs="${pgs%% $arg *} ${pgs#* $arg }" ;; esac ;;
	esac ;;
	esac
done
has() {
	[ -f "$1/cgroup.events" ] || return 1
	while read -r k v; do
		[ "$k $v" = "$2" ] && return 0
	done <"$1/cgroup.events"
	return 1
}
kill_each() {
	while read -r p; do kill -s KILL "$p"; done <"$1/cgroup.procs"
	for c in "$1"/*/; do [ -d "$c" ] && kill_each "${c%/}"; done
}
kill_cg() {
	[ -f "$1/cgroup.procs" ] || return
	if [ -f "$1/cgroup.kill" ] && echo 1 >"$1/cgroup.kill"; then return; fi
	echo 1 >"$1/cgroup.freeze"
	n=0
	while ! has "$1" "frozen 1" && has "$1" "populated 1" && [ "$n" -lt 100 ]; do
		sleep 0.01 </dev/null
		n=$((n + 1))
	done
	kill_each "$1"
	echo 0 >"$1/cgroup.freeze"
}
rm_tree() {
	for c in "$1"/*/; do [ -d "$c" ] && rm_tree "${c%/}"; done
	rmdir "$1"
}
reused() {
	eval "want=\${st_$1-}"
	[ -n "$want" ] || return 1
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	set -- ${line##*) }
	[ "${20-}" != "$want" ]
}
for p in $pgs; do reused "$p" || kill -s KILL -- "-$p"; done
while read -r d; do
	[ -n "$d" ] && kill_cg "$d"
done <<EOF
$cgs
EOF
while read -r d; do
	[ -n "$d" ] && [ -f "$d/cgroup.procs" ] || continue
	n=0
	while has "$d" "populated 1" && [ "$n" -lt 200 ]; do
		sleep 0.01 </dev/null
		n=$((n + 1))
	done
	rm_tree "$d"
done <<EOF
$cgs
EOF
exit 0
