"""The window's services (Qt threads and helpers the ui/ widgets drive): the engine session, model loading,
hub downloads, replay, the journal and turn records, push-to-talk VAD, partial transcripts, end of turn, and the
silent backend for machines without a sound device."""
