#!/bin/sh
# Usage: check_run_folder.sh DIR
# Exit 0 if DIR is one complete nkscape run: it has a manifest.json, every file the manifest lists
# exists with the listed size, and there is no other file. Else print what is wrong and exit 1.
# Plain sh + awk (no jq): manifest.json is written by nkscape with one key per line.
dir=$1
m="$dir/manifest.json"
[ -f "$m" ] || { echo "$dir: no manifest.json"; exit 1; }
listed=$(awk -F'"' '/"name":/ { n = $4 } /"bytes":/ { b = $0; gsub(/[^0-9]/, "", b); print n " " b }' "$m")
[ -n "$listed" ] || { echo "$dir: manifest.json lists no files"; exit 1; }
n=0
for entry in $(printf '%s\n' "$listed" | tr ' ' '/'); do
    f=${entry%/*}
    b=${entry#*/}
    [ -f "$dir/$f" ] || { echo "$dir: '$f' is listed in manifest.json but missing"; exit 1; }
    size=$(wc -c < "$dir/$f" | tr -d ' ')
    [ "$size" = "$b" ] || { echo "$dir: '$f' has $size bytes, manifest.json says $b"; exit 1; }
    n=$((n + 1))
done
on_disk=$(ls -A "$dir" | grep -vx 'manifest.json' | wc -l | tr -d ' ')
[ "$on_disk" = "$n" ] || { echo "$dir: $on_disk files besides manifest.json, manifest.json lists $n (a mixture of runs?)"; ls -A "$dir"; exit 1; }
exit 0
