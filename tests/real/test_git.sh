#!/bin/sh
# test_git.sh: git on a repository of FILES generated files and COMMITS
# commits (each editing, adding and removing files), with a branch merged
# back, a tag, a cherry-pick, a threaded repack with a wide delta window
# (pack-objects' delta search is allocation-heavy), a clone through the pack
# protocol, then log -p, blame, grep, diff, archive, status and fsck.
# Everything printed (commit ids, diffs, checksums) must be the same under
# hakmem as without it: author, committer and dates are fixed.
# Quick: 800 files, 6 commits. Full: 4,000 files, 30 commits.
# Exit: 0 pass, 1 fail, 77 skip (no git), 99 setup error.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

command -v git >/dev/null 2>&1 || real_skip "git not found (apt-get install git)"

files=800 commits=6
[ "$mode" = full ] && files=4000 commits=30

# The tree: FILES files in 40 directories, 5 to 120 lines each.
mkdir "$tmp/tree"
awk -v dir="$tmp/tree" -v n="$files" 'BEGIN {
    for (d = 0; d < 40; d++) system("mkdir -p " dir "/d" d "/sub" (d % 4))
    for (i = 0; i < n; i++) {
        f = sprintf("%s/d%d/sub%d/file%04d.txt", dir, i % 40, (i % 40) % 4, i)
        for (j = 0; j < 5 + (i * 37) % 116; j++)
            printf "line %d of file %d: value %d %s\n", j, i, (i * 31 + j * 17) % 1000,
                substr("lorem ipsum dolor sit amet consectetur", 1 + (i + j) % 20, 10 + j % 17) > f
        close(f)
    } }'

cat >"$tmp/git.sh" <<'EOF'
set -e
work=$1 tree=$2 commits=$3
export HOME="$work/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Hak Mem" GIT_AUTHOR_EMAIL="hak@example.invalid"
export GIT_COMMITTER_NAME="Hak Mem" GIT_COMMITTER_EMAIL="hak@example.invalid"
stamp() { t=$((1704067200 + $1 * 3600)); export GIT_AUTHOR_DATE="@$t +0000" GIT_COMMITTER_DATE="@$t +0000"; }
mkdir -p "$HOME"
cp -R "$tree" "$work/repo"
cd "$work/repo"
git init -q
git symbolic-ref HEAD refs/heads/main
git config pack.threads 2
git config core.bigFileThreshold 512m
git add -A
stamp 0
git commit -q -m "import"
# edit: commit C edits, adds and removes files deterministically.
edit() {
    find d* -name '*.txt' | sort |
        awk -v c="$1" 'NR % 37 == c % 37 { print "edit " c " of " $0 >>$0; close($0) }'
    i=0
    while [ $i -lt 5 ]; do
        echo "new file $i of commit $1" >"d$(( ($1 + i) % 40 ))/new-$1-$i.txt"
        i=$((i + 1))
    done
    rm "$(git ls-files | sort | awk -v c="$1" 'NR == 1 + (c * 131) % 700')"
}
c=1
while [ $c -le "$commits" ]; do
    edit $c
    git add -A
    stamp $c
    git commit -q -m "commit $c"
    if [ $c = 2 ]; then
        git checkout -q -b topic
        for f in d5/topic-a.txt d6/topic-b.txt; do echo "topic $f" >"$f"; done
        git add -A
        stamp 100
        git commit -q -m "topic work"
        git checkout -q main
    fi
    c=$((c + 1))
done
stamp 200
git merge -q --no-ff -m "merge topic" topic
git tag -a v1 -m "tag v1"
git checkout -q -b pick HEAD~2
stamp 201
git cherry-pick main~1 >/dev/null
git checkout -q main
git repack -adfq --window=50 --depth=50
git count-objects -v | grep -E '^(count|in-pack|packs):'
git clone -q --no-local . "$work/clone"
git -C "$work/clone" log --format=%H | cksum
git log --format='%H %P %s' --graph | cksum
git log -p --stat --format='%H %an %ad %s' | cksum
git log --format=%H -n 3
git rev-parse v1^{commit} pick
git blame -s --porcelain d3/sub3/file0003.txt | cksum
git grep -c 'value 42' | cksum
git grep -n -E 'line 1[0-9] of file [0-9]*7:' | wc -l
git diff --stat HEAD~5 HEAD | tail -n 1
git diff HEAD~3 HEAD | cksum
git ls-tree -r HEAD | cksum
git archive --format=tar HEAD | cksum
echo untracked >d1/untracked.txt
echo dirty >>d2/sub2/file0002.txt
git status --porcelain
git fsck --full --strict --no-progress 2>&1
EOF

real_served git git --version
real_run git.base "" sh "$tmp/git.sh" "$tmp/base" "$tmp/tree" "$commits"
real_baseline_ok git git.base
for lib in $libs; do
    t=$(real_tag "$lib")
    real_run "git.$t" "$lib" sh "$tmp/git.sh" "$tmp/$t" "$tmp/tree" "$commits"
    real_same "git on $files files, $commits commits under $(basename "$lib")" git.base "git.$t"
done
real_finish
