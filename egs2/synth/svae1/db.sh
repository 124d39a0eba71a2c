# Where corpora live (or are made). The synthetic corpus is generated offline by local/data.sh.
SYNTH=${SYNTH:-downloads/synth}
