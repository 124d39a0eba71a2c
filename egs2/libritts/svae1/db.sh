# Where the corpora are (downloaded there from openslr by local/data.sh when absent).
LIBRITTS=${LIBRITTS:-downloads}
LIBRISPEECH=${LIBRISPEECH:-downloads}
