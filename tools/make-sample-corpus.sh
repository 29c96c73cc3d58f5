#!/bin/sh
# make-sample-corpus.sh — rebuild data/sample/ from Debian's debian-reference-en.
#
# The bundled sample corpus used by `make demo` is the Debian Reference
# (Osamu Aoki, GPL-2+), split into one document per numbered section. We take
# it from Debian's own binary package rather than from the web so that the
# source is exact and reproducible: the package version pins the text, and
# the package's copyright file travels with the corpus as data/sample/LICENSE.
#
# Why the plain-text edition: the package ships the whole book as one .txt.gz
# rendered by DocBook, where every heading sits at column 0 ("1.2.4.<NBSP>Title",
# "Chapter 5.<NBSP>Network setup") and every body line is indented by four
# spaces. That makes splitting a small awk state machine instead of an HTML
# parser. Long headings wrap onto a second column-0 line, which we join.
# Footnotes are collected by DocBook at the end of each chapter after a rule
# of dashes; they would land in the wrong section, so we drop them.
#
# Nothing is installed: `apt-get download` fetches the .deb into a temporary
# directory and `dpkg-deb -x` unpacks it there.
#
# Usage: tools/make-sample-corpus.sh [OUTDIR]     (default: data/sample of this checkout)
#        DEB=path/to/debian-reference-en_*.deb tools/make-sample-corpus.sh
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/data/sample}
PKG=debian-reference-en
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

if [ -n "${DEB:-}" ]; then
    cp "$DEB" "$TMP/"
else
    (cd "$TMP" && apt-get download "$PKG" >/dev/null)
fi
deb=$(ls "$TMP"/*.deb | head -n 1)
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -x "$deb" "$TMP/x"
txt="$TMP/x/usr/share/debian-reference/debian-reference.en.txt.gz"
[ -f "$txt" ] || { echo "make-sample-corpus: $txt missing in $deb" >&2; exit 1; }

mkdir -p "$OUT"

# NBSP (U+00A0) separates section numbers from titles; make it a plain space
# so the heading patterns below stay ASCII. LC_ALL=C keeps awk byte-exact on
# the UTF-8 body text.
zcat "$txt" | sed 's/\xc2\xa0/ /g' > "$TMP/ref.txt"
LC_ALL=C awk -v version="$version" '
# Backslashes in gsub replacements differ between awks (mawk, gawk, busybox),
# so JSON escaping splits and re-joins with plain string concatenation.
function rep(s, sep, with,   parts, n, i, r) {
    n = split(s, parts, sep)
    r = parts[1]
    for (i = 2; i <= n; i++) r = r with parts[i]
    return r
}
function jstr(s) {
    s = rep(s, "\\", "\\\\"); s = rep(s, "\"", "\\\"")
    s = rep(s, "\t", "\\t"); s = rep(s, "\r", ""); s = rep(s, "\n", "\\n")
    gsub(/[\001-\037]/, "", s)
    return "\"" s "\""
}
function html_for(num,   c) {
    c = num; sub(/\..*/, "", c)
    if (c ~ /^[A-Z]$/) return "ap" tolower(c) ".en.html"
    if (c == "preface") return "pr01.en.html"
    return sprintf("ch%02d.en.html", c + 0)
}
# Emit the pending document, if it has any text.
function flush(   text) {
    if (num == "") return
    text = body
    sub(/^\n+/, "", text); sub(/\n+$/, "", text)
    if (length(text) >= 40) {
        printf "{\"id\":%s,\"title\":%s,\"text\":%s,\"metadata\":{\"source\":\"debian-reference\",\"version\":%s,\"chapter\":%s,\"section\":%s,\"url\":%s}}\n", \
            jstr("debref-" num), jstr(title), jstr(text), jstr(version), \
            jstr(chapter), jstr(num), \
            jstr("https://www.debian.org/doc/manuals/debian-reference/" html_for(secfile))
        ndocs++
    }
    num = ""; body = ""; blank = 0
}
function start(n, t, f) {
    flush(); num = n; title = t; secfile = f; inhead = 1; foot = 0
}
# The body starts at the last column-0 "1. Disclaimer": the first one is the
# preface table of contents.
FNR == NR { if ($0 == "1. Disclaimer") first = FNR; next }
FNR < first { next }
FNR == first { chapter = "Preface" }
{
    line = $0
    if (line ~ /^Chapter [0-9]+\. /) {
        flush(); chapter = line; n = line; sub(/^Chapter /, "", n); sub(/\..*/, "", n)
        t = line; sub(/^Chapter [0-9]+\. /, "", t)
        start(n, t, n); next
    }
    if (line ~ /^Appendix [A-Z]\. /) {
        flush(); chapter = line; n = substr(line, 10, 1)
        t = line; sub(/^Appendix [A-Z]\. /, "", t)
        start(n, t, n); next
    }
    if (line ~ /^([0-9]+|[A-Z])(\.[0-9]+)+\. /) {
        n = line; sub(/\. .*/, "", n)
        t = line; sub(/^[0-9A-Z.]+\. /, "", t)
        if (chapter == "Preface") start("preface." n, t, "preface")
        else start(n, t, n)
        next
    }
    if (chapter == "Preface" && line ~ /^[0-9]+\. /) {       # preface sections
        n = line; sub(/\. .*/, "", n)
        t = line; sub(/^[0-9]+\. /, "", t)
        start("preface." n, t, "preface"); next
    }
    if (line ~ /^-----------+$/) { foot = 1; inhead = 0; next }
    if (foot) next
    if (line ~ /^[^ ]/ && inhead) { title = title " " line; next }   # wrapped heading
    inhead = 0
    if (line ~ /^[ ]*$/) { blank = 1; next }
    sub(/^    /, "", line)
    body = body (blank ? "\n\n" : "\n") line
    blank = 0
}
END { flush() }
' "$TMP/ref.txt" "$TMP/ref.txt" > "$OUT/corpus.jsonl.tmp"

# Every line must be a JSON object with the fields lctx-index expects.
jq -e -c 'select((.id|type) != "string" or (.text|length) == 0)' \
    "$OUT/corpus.jsonl.tmp" >/dev/null 2>&1 && {
    echo "make-sample-corpus: malformed or empty documents" >&2; exit 1; }
jq -e . "$OUT/corpus.jsonl.tmp" >/dev/null || {
    echo "make-sample-corpus: output is not valid JSON lines" >&2; exit 1; }
mv "$OUT/corpus.jsonl.tmp" "$OUT/corpus.jsonl"
cp "$TMP/x/usr/share/doc/$PKG/copyright" "$OUT/LICENSE"
# The copyright file points at the GPL text Debian keeps in base-files; ship
# a copy, since the corpus leaves the Debian system with the project.
cp /usr/share/common-licenses/GPL-2 "$OUT/GPL-2"
echo "$PKG $version -> $OUT/corpus.jsonl ($(wc -l < "$OUT/corpus.jsonl") documents, $(wc -c < "$OUT/corpus.jsonl") bytes)"
