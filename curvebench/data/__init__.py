"""Dataset sources: the embedded corpus, local folders of MIDI files, Hugging Face datasets."""
