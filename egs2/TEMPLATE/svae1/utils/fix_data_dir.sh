#!/usr/bin/env bash
# Repair a Kaldi data dir, with the interface of Kaldi's utils/fix_data_dir.sh (this recipe's own
# script):   utils/fix_data_dir.sh <data-dir>
# Keeps only the utterances present in every per-utterance list that exists (utt2spk, text,
# wav.scp or segments, feats.scp, utt2num_samples, utt2dur, utt2num_frames, utt2uniq, utt2lang),
# sorts every list (LC_ALL=C) and drops duplicate ids (first kept), removes recordings of wav.scp
# that no segment uses (with segments), and rebuilds spk2utt from utt2spk. The originals are kept in
# <data-dir>/.backup/. Reports how many utterances it removed. Then: utils/validate_data_dir.sh.
set -euo pipefail
export LC_ALL=C
[ $# -eq 1 ] || { echo "usage: $0 <data-dir>" >&2; exit 1; }
data=${1%/}
[ -f "${data}/utt2spk" ] || { echo "$0: ${data}: no utt2spk" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "${tmp}"' EXIT
mkdir -p "${data}/.backup"
lists=()
for f in utt2spk text feats.scp utt2num_samples utt2dur utt2num_frames utt2uniq utt2lang; do
    [ -f "${data}/${f}" ] && lists+=("${f}")
done
if [ -f "${data}/segments" ]; then lists+=(segments); elif [ -f "${data}/wav.scp" ]; then lists+=(wav.scp); fi
for f in "${lists[@]}" spk2utt $([ -f "${data}/segments" ] && [ -f "${data}/wav.scp" ] && echo wav.scp); do
    [ -f "${data}/${f}" ] && cp "${data}/${f}" "${data}/.backup/${f}"
done
# sorted, first line of each id kept
dedup_sort() { awk '!seen[$1]++' "$1" | sort -k1,1 -s; }
cut -d' ' -f1 "${data}/utt2spk" | sort -u > "${tmp}/keep"
for f in "${lists[@]}"; do
    cut -d' ' -f1 "${data}/${f}" | sort -u | comm -12 "${tmp}/keep" - > "${tmp}/keep.new"
    mv "${tmp}/keep.new" "${tmp}/keep"
done
n_before=$(cut -d' ' -f1 "${data}/utt2spk" | sort -u | wc -l)
for f in "${lists[@]}"; do
    dedup_sort "${data}/${f}" | awk 'NR == FNR { k[$1]; next } ($1 in k)' "${tmp}/keep" - > "${tmp}/${f}"
    mv "${tmp}/${f}" "${data}/${f}"
done
if [ -f "${data}/segments" ] && [ -f "${data}/wav.scp" ]; then
    dedup_sort "${data}/wav.scp" | awk 'NR == FNR { r[$2]; next } ($1 in r)' "${data}/segments" - > "${tmp}/wav.scp"
    mv "${tmp}/wav.scp" "${data}/wav.scp"
fi
awk '{ if (!($2 in u)) order[n++] = $2; u[$2] = u[$2] " " $1 } END { for (i = 0; i < n; i++) print order[i] u[order[i]] }' \
    "${data}/utt2spk" | sort > "${data}/spk2utt"
n_after=$(wc -l < "${tmp}/keep")
echo "$0: ${data}: kept ${n_after} of ${n_before} utterances (lists: ${lists[*]}); originals in ${data}/.backup"
