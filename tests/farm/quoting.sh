#!/usr/bin/env bash
# Hostile arguments reach the program as one unchanged argument, whatever replacement string
# carries them, through ':::' and through --args FILE.
#
# Usage: quoting.sh            (ctest runs it as farm.quoting.np3: 2 workers x 2 threads, direct)
# A helper records its argv (count, then each argument, NUL-terminated) into OUT/{#}. Templates:
#   argv OUT/{#} {} {.} {/} {//} {#} {%}     every replacement string of the contract
#   argv OUT/{#} pre{}post {}{}              replacements inside and next to words
#   argv-env                                 no replacement string: " {}" is appended
# over a table of hostile arguments (spaces, tabs, both quotes, $(...), `...`, ${...}, ; | & > <,
# * ? [ ~, leading - and --, the empty string, backslashes, {} and {#} as text, a 10 kB argument,
# non-ASCII and invalid UTF-8, and - through ::: only - newlines).
# Expects: exit 0; each recorded argv is byte for byte the expected one ({.} {/} {//} computed as
# template.h defines them, {#} the Seq, {%} a slot 1..4); no command substitution ran (canary
# files absent); the joblog has one line per task (a newline in a command is escaped) and each
# logged Command, run again with /bin/sh -c, writes the same argv.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" quoting

# The argv recorder: OUT, then the arguments.
cat >"$tmp/argv" <<'EOF'
#!/bin/sh
out=$1
shift
{ printf '%s\0' "$#"; for a in "$@"; do printf '%s\0' "$a"; done; } >"$out"
EOF
# The same, for a template without a replacement string: OUT comes from SCALEOUT_TASK_ID.
cat >"$tmp/argv-env" <<'EOF'
#!/bin/sh
exec "$(dirname "$0")/argv" "$(dirname "$0")/out3/$SCALEOUT_TASK_ID" "$@"
EOF
chmod +x "$tmp/argv" "$tmp/argv-env"

# The hostile arguments. Commands that would leave a canary file if the shell ever ran them.
canary=$tmp/canary
# shellcheck disable=SC1003,SC2016 # the quotes and dollars are the point
args=(
  'two words' '  leading and trailing  ' $'tab\there' 'it'"'"'s' 'say "hi"' "mixed '\"' quotes"
  "'" '"' "''" "\$(touch $canary.1)" "\`touch $canary.2\`" "\${HOME}" "\$HOME" '$' '$$' '$0'
  "a;touch $canary.3" 'a|cat' "a&&touch $canary.4" 'x &' 'a>b' '<in' '*' '?' '[ab]' '~' '~root'
  '-n' '-e' '--help' '--tasks' '-' '' ' ' 'back\slash' '\n' '\' '!' '!!' '#comment' 'a #b'
  '{}' '{#}' '{.}' '%s %d' 'a=b' 'if' 'then' '(sub)' '{ x; }' 'dir/file.tar.gz' '.bashrc'
  'dir/' '/abs/path.ext' 'x.' 'héllo wörld' '日本語のファイル.txt' '🚀 emoji' $'\xff\xfe' $'\e[31mred'
  "$(printf 'long%.0s' {1..2500})"
)
nl_args=($'line1\nline2' $'\n' $'trailing\n' $'a\n\nb')
all=("${args[@]}" "${nl_args[@]}")
echo "quoting: ${#all[@]} hostile arguments through :::, ${#args[@]} through --args"

# Writes the arguments, one per line, for --args (none of them holds a newline).
printf '%s\n' "${args[@]}" >"$tmp/args.txt"
printf '%s\0' "${all[@]}" >"$tmp/all.bin"
printf '%s\0' "${args[@]}" >"$tmp/args.bin"

# check_run TAG KIND ARGSBIN OUTDIR: compares every recorded argv with the expected one.
# KIND: full (argv {} {.} {/} {//} {#} {%}), words (pre{}post {}{}), plain ({} appended).
check_run() {
  pycheck "$@" "$canary" <<'EOF'
import os, re, sys
tag, kind, argsbin, outdir, canary = sys.argv[1:6]
args = open(argsbin, "rb").read().split(b"\0")[:-1]

def base(a):
    return a[a.rfind(b"/") + 1:]

def noext(a):
    # GNU parallel's {.} is the Perl substitution s:\.[^/.]*$:: (template.h).
    return re.sub(rb"\.[^/.]*$", b"", a, count=1)

def dirname(a):
    # POSIX dirname(1).
    if a == b"":
        return b"."
    s = a.rstrip(b"/")
    if s == b"":
        return b"/"
    i = s.rfind(b"/")
    if i < 0:
        return b"."
    return s[:i].rstrip(b"/") or b"/"

bad = []
slots = set()
for seq, a in enumerate(args, 1):
    path = os.path.join(outdir, str(seq))
    try:
        got = open(path, "rb").read().split(b"\0")[:-1]
    except OSError:
        bad.append(f"#{seq} {a[:40]!r}: no output file")
        continue
    if kind == "full":
        want = [a, noext(a), base(a), dirname(a), str(seq).encode()]
        n = len(got) - 1
        if n == 6 and got[6].isdigit():
            slots.add(int(got[6]))
            got = got[:6]
        want = [b"6"] + want
    elif kind == "words":
        want = [b"2", b"pre" + a + b"post", a + a]
    else:
        want = [b"1", a]
    if got != want:
        bad.append(f"#{seq} {a[:40]!r}: got {[g[:40] for g in got[1:]]!r}, want {[w[:40] for w in want[1:]]!r}")
for b in bad[:8]:
    print("note|  " + b)
print(("ok|" if not bad else "FAIL|") + f"{tag}: {len(args) - len(bad)} of {len(args)} arguments reached the program unchanged")
if kind == "full":
    ok = slots and all(1 <= s <= 4 for s in slots)
    print(("ok|" if ok else "FAIL|") + f"{tag}: {{%}} is a slot number 1..4 (2 workers x 2 threads): {sorted(slots)}")
left = [c for c in os.listdir(os.path.dirname(canary)) if c.startswith(os.path.basename(canary))]
print(("ok|" if not left else "FAIL|") + f"{tag}: no substitution or command in an argument ran (canaries: {left})")
EOF
}

# check_joblog TAG LOG ARGSBIN OUTDIR: one joblog line per task, and each logged Command run
# again through /bin/sh -c writes the same argv as the farm's run did.
check_joblog() {
  pycheck "$@" <<'EOF'
import os, subprocess, sys
tag, log, argsbin, outdir = sys.argv[1:5]
n = len(open(argsbin, "rb").read().split(b"\0")) - 1
data = open(log, "rb").read()
lines = data.split(b"\n")
ok = lines[-1] == b"" and len(lines) - 2 == n
print(("ok|" if ok else "FAIL|") + f"{tag}: joblog is a header and {n} lines (got {len(lines) - 1} lines; a raw newline in Command would add lines)")
rows = {}
for line in lines[1:-1]:
    f = line.split(b"\t", 8)
    if len(f) == 9 and f[0].isdigit():
        rows[int(f[0])] = f[8].replace(b"\0", b"\n")
bad = []
for seq in range(1, n + 1):
    path = os.path.join(outdir, str(seq))
    if seq not in rows or not os.path.exists(path):
        bad.append(f"#{seq}: no joblog line or no output")
        continue
    first = open(path, "rb").read()
    os.unlink(path)
    subprocess.run([b"/bin/sh", b"-c", rows[seq]], check=False, timeout=30,
                   env=dict(os.environ, SCALEOUT_TASK_ID=str(seq)))
    again = open(path, "rb").read() if os.path.exists(path) else b"<none>"
    if again != first:
        bad.append(f"#{seq}: logged command {rows[seq][:60]!r} writes {again[:60]!r}, the run wrote {first[:60]!r}")
for b in bad[:5]:
    print("note|  " + b)
print(("ok|" if not bad else "FAIL|") + f"{tag}: each logged Command, run again, writes the same argv ({len(bad)} differ)")
EOF
}

farm=("$SCALEOUT" run -n 2 --threads 2)

echo "- ::: with {} {.} {/} {//} {#} {%}"
mkdir "$tmp/out1"
run colons 120 "${farm[@]}" --joblog "$tmp/colons.log" \
  --command "$tmp/argv $tmp/out1/{#} {} {.} {/} {//} {#} {%}" ::: "${all[@]}"
expect "::: exit status" "$rc" 0
check_run ":::" full "$tmp/all.bin" "$tmp/out1"
check_joblog ":::" "$tmp/colons.log" "$tmp/all.bin" "$tmp/out1"

echo "- --args FILE with {} {.} {/} {//} {#} {%}"
mkdir "$tmp/out2"
run argsfile 120 "${farm[@]}" --command "$tmp/argv $tmp/out2/{#} {} {.} {/} {//} {#} {%}" \
  --args "$tmp/args.txt"
expect "--args exit status" "$rc" 0
check_run "--args" full "$tmp/args.bin" "$tmp/out2"

echo "- ::: with pre{}post and {}{}"
mkdir "$tmp/out4"
run words 120 "${farm[@]}" --command "$tmp/argv $tmp/out4/{#} pre{}post {}{}" ::: "${all[@]}"
expect "pre{}post exit status" "$rc" 0
check_run "pre{}post {}{}" words "$tmp/all.bin" "$tmp/out4"

echo "- a template without a replacement string gets {} appended"
mkdir "$tmp/out3"
run plain 120 "${farm[@]}" --command "$tmp/argv-env" ::: "${all[@]}"
expect "appended {} exit status" "$rc" 0
check_run "appended {}" plain "$tmp/all.bin" "$tmp/out3"

finish
