#!/usr/bin/env bash
# Check a Kaldi data dir, with the interface of Kaldi's utils/validate_data_dir.sh (this recipe's own
# script):   utils/validate_data_dir.sh [--no-feats] [--no-text] [--no-wav] [--non-print] [--no-spk-sort] <data-dir>
# Checks: utt2spk and spk2utt exist and agree; every list (wav.scp, text, utt2spk, spk2utt, feats.scp,
# segments, utt2num_samples, utt2dur, when present or required) is sorted (LC_ALL=C, by its first field)
# with unique ids; every utterance of utt2spk is in text, wav.scp (or segments) and feats.scp and no
# list names an utterance utt2spk lacks; with speaker sorting (the default) utt2spk sorted by speaker
# keeps its order (speaker ids prefix utterance ids); text is printable UTF-8 unless --non-print.
# Each problem is printed (naming the file and an id); the exit status is 1 if there is any.
# utils/fix_data_dir.sh repairs what it can (sorting, utterances missing from some lists).
set -u
export LC_ALL=C
no_feats=false; no_text=false; no_wav=false; non_print=false; no_spk_sort=false
while [ $# -gt 0 ]; do
    case "$1" in
        --no-feats|--no_feats) no_feats=true ;;
        --no-text|--no_text) no_text=true ;;
        --no-wav|--no_wav) no_wav=true ;;
        --non-print|--non_print) non_print=true ;;
        --no-spk-sort|--no_spk_sort) no_spk_sort=true ;;
        -*) echo "$0: unknown option $1" >&2; exit 1 ;;
        *) break ;;
    esac
    shift
done
[ $# -eq 1 ] || { echo "usage: $0 [--no-feats] [--no-text] [--no-wav] [--non-print] [--no-spk-sort] <data-dir>" >&2; exit 1; }
data=${1%/}
[ -d "${data}" ] || { echo "$0: no such directory ${data}" >&2; exit 1; }
errors=0
err() { echo "$0: ${data}: $*" >&2; errors=$((errors + 1)); }
tmp=$(mktemp -d); trap 'rm -rf "${tmp}"' EXIT

# check_list <file>: sorted by the first field, unique first fields, no empty line
check_list() {
    local f=${data}/$1 d
    if ! cut -d' ' -f1 "${f}" | sort -c 2>/dev/null; then
        err "$1 is not sorted (LC_ALL=C sort): first out of order: $(cut -d' ' -f1 "${f}" | sort -c 2>&1 | sed 's/.*disorder: //')"
    fi
    d=$(cut -d' ' -f1 "${f}" | sort | uniq -d | head -n 1)
    [ -z "${d}" ] || err "$1 has the id '${d}' more than once"
    if grep -qn '^[[:space:]]*$' "${f}"; then err "$1 has an empty line (line $(grep -n '^[[:space:]]*$' "${f}" | head -n 1 | cut -d: -f1))"; fi
    cut -d' ' -f1 "${f}" | sort -u > "${tmp}/$1.ids"
}
# same_ids <a> <b>: the ids of two lists agree; names the first difference
same_ids() {
    local only
    only=$(comm -23 "${tmp}/$1.ids" "${tmp}/$2.ids" | head -n 1)
    [ -z "${only}" ] || err "utterance '${only}' is in $1 but not in $2 ($(comm -23 "${tmp}/$1.ids" "${tmp}/$2.ids" | wc -l) such)"
    only=$(comm -13 "${tmp}/$1.ids" "${tmp}/$2.ids" | head -n 1)
    [ -z "${only}" ] || err "utterance '${only}' is in $2 but not in $1 ($(comm -13 "${tmp}/$1.ids" "${tmp}/$2.ids" | wc -l) such)"
}

for f in utt2spk spk2utt; do [ -s "${data}/${f}" ] || { err "no ${f} (or it is empty)"; }; done
[ "${errors}" -eq 0 ] || exit 1
check_list utt2spk
check_list spk2utt
awk 'NF != 2 { print "line " NR ": \"" $0 "\""; exit }' "${data}/utt2spk" > "${tmp}/bad"
[ -s "${tmp}/bad" ] && err "utt2spk must hold '<utt> <spk>' lines: $(cat "${tmp}/bad")"
# spk2utt rebuilt from utt2spk must equal spk2utt (utterances in utt2spk order)
awk '{ if (!($2 in u)) order[n++] = $2; u[$2] = u[$2] " " $1 } END { for (i = 0; i < n; i++) print order[i] u[order[i]] }' \
    "${data}/utt2spk" | sort > "${tmp}/spk2utt"
cmp -s "${tmp}/spk2utt" <(sed 's/[[:space:]]*$//' "${data}/spk2utt") \
    || err "spk2utt does not agree with utt2spk (rebuild it: utils/fix_data_dir.sh ${data})"
if ! "${no_spk_sort}" && ! sort -k2,2 -s "${data}/utt2spk" | cmp -s - "${data}/utt2spk"; then
    err "utt2spk sorted by speaker changes its order: speaker ids should prefix utterance ids (or pass --no-spk-sort)"
fi

if ! "${no_text}"; then
    if [ -f "${data}/text" ]; then
        check_list text; same_ids utt2spk text
        if ! "${non_print}"; then
            bad=$(grep -naP '[\x00-\x08\x0b-\x1f\x7f]' "${data}/text" | head -n 1 | cut -d: -f1)
            [ -z "${bad}" ] || err "text line ${bad} ($(sed -n "${bad}p" "${data}/text" | cut -d' ' -f1)) has a non-printable character"
            iconv -f UTF-8 -t UTF-8 "${data}/text" > /dev/null 2>&1 || err "text is not valid UTF-8"
        fi
    else
        err "no text (pass --no-text for a dir without transcripts)"
    fi
fi
if ! "${no_wav}"; then
    if [ -f "${data}/segments" ]; then
        check_list segments; same_ids utt2spk segments
        [ -f "${data}/wav.scp" ] && check_list wav.scp
    elif [ -f "${data}/wav.scp" ]; then
        check_list wav.scp; same_ids utt2spk wav.scp
    else
        err "no wav.scp (pass --no-wav for a dir without audio)"
    fi
fi
if ! "${no_feats}"; then
    if [ -f "${data}/feats.scp" ]; then check_list feats.scp; same_ids utt2spk feats.scp
    else err "no feats.scp (pass --no-feats for a dir without features)"; fi
fi
for f in utt2num_samples utt2dur utt2num_frames; do
    if [ -f "${data}/${f}" ]; then check_list ${f}; same_ids utt2spk ${f}; fi
done
if [ "${errors}" -gt 0 ]; then
    echo "$0: ${data}: ${errors} problem(s); utils/fix_data_dir.sh ${data} repairs sorting and missing utterances" >&2
    exit 1
fi
echo "$0: Successfully validated data-directory ${data}"
