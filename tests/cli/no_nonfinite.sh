#!/bin/sh
# Usage: no_nonfinite.sh FOLDER...
# Issue 10: no NaN or infinity is ever written as data. Scans every *.csv and *.json under the
# given folders and lists file:line of:
#   CSV   a NaN/Inf token (nan, inf, infinity, any case and sign) in a numeric column: a column
#         whose other fields are numbers or empty (a text column, e.g. a condition named "Inf",
#         is not numeric and not checked);
#   JSON  a NaN/Inf token as a value, or null as the value of a key that is not one of the keys
#         nkscape writes null for on purpose (io::jsonOptional or an explicit null; listed below),
#         or null as an array element.
# Plain sh + awk: nkscape's JSON has one value per line (2-space indentation).
set -u
# Keys that are null on purpose: undefined statistics (jsonOptional), settings left unset.
optional=$(grep -v '^#' "$(dirname "$0")/../data/nullable-json-keys.txt" | grep . | paste -sd '|')
[ -n "$optional" ] || { echo "no keys in tests/data/nullable-json-keys.txt"; exit 1; }
files=$(find "$@" \( -name '*.csv' -o -name '*.json' \) -type f 2>/dev/null | sort)
[ -n "$files" ] || { echo "no output files under $*"; exit 1; }
bad=0
count=0
for f in $files; do
    count=$((count + 1))
    case "$f" in
    *.csv)
        awk -v file="$f" '
            function nonfinite(s) { return tolower(s) ~ /^[+-]?(nan|inf|infinity)$/ }
            function number(s) { return s ~ /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/ }
            # Splits one CSV record (RFC 4180 quoting; nkscape writes one record per line).
            function split_csv(line, out,    n, i, c, field, inq, quoted) {
                n = 0; field = ""; inq = 0; quoted = 0
                for (i = 1; i <= length(line); i++) {
                    c = substr(line, i, 1)
                    if (inq) {
                        if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { field = field c; i++ } else inq = 0 }
                        else field = field c
                    } else if (c == "\"") { inq = 1; quoted = 1 }
                    else if (c == ",") { out[++n] = field; isq[n] = quoted; field = ""; quoted = 0 }
                    else field = field c
                }
                out[++n] = field; isq[n] = quoted
                return n
            }
            NR == 1 { next }
            {
                n = split_csv($0, f)
                for (i = 1; i <= n; i++) {
                    v[NR, i] = f[i]
                    if (isq[i] || (f[i] != "" && !number(f[i]) && !nonfinite(f[i]))) text[i] = 1
                }
                cols[NR] = n
            }
            END {
                for (r = 2; r <= NR; r++)
                    for (i = 1; i <= cols[r]; i++)
                        if (!text[i] && nonfinite(v[r, i])) { printf "%s:%d: column %d: non-finite value %s\n", file, r, i, v[r, i]; bad = 1 }
                exit bad
            }' "$f" || bad=1
        ;;
    *.json)
        awk -v file="$f" -v optional="^(${optional})\$" '
            {
                line = $0
                sub(/^[ \t]+/, "", line); sub(/,$/, "", line)
                key = ""
                if (match(line, /^"[^"]*": /)) { key = substr(line, 2, RLENGTH - 4); val = substr(line, RLENGTH + 1) }
                else val = line
                if (tolower(val) ~ /^-?(nan|inf|infinity)$/) { printf "%s:%d: non-finite value %s\n", file, NR, val; bad = 1 }
                else if (val == "null" && key == "") { printf "%s:%d: null in an array\n", file, NR; bad = 1 }
                else if (val == "null" && key !~ optional) { printf "%s:%d: \"%s\" is null (not a key nkscape leaves undefined on purpose)\n", file, NR, key; bad = 1 }
            }
            END { exit bad }' "$f" || bad=1
        ;;
    esac
done
[ "$bad" -eq 0 ] || exit 1
echo "$count output files, no non-finite data"
