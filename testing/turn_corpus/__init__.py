"""The project's turn-taking corpus: synthetic speech (espeak-ng, flite) of complete sentences and sentences with a
600-1000 ms pause inside, some with background noise, with a train split and a held-out split of other voices and
other sentences. Reproducible (one seed) and cached; see docs/turn_taking/corpus.md.

    python -m testing.turn_corpus build [--out DIR] [--small]
    from testing.turn_corpus import load_corpus; clips = load_corpus()
"""

from testing.turn_corpus.build import build_corpus, default_folder
from testing.turn_corpus.corpus import CorpusClip, load_corpus, read_manifest

__all__ = ["CorpusClip", "build_corpus", "default_folder", "load_corpus", "read_manifest"]
