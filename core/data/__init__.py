"""Data construction: empathetic speech dialogues for training (LLM -> schema -> TTS -> checks -> units -> jsonl).

    from core.data.config import load_data_config
    from core.data.pipeline import make_data
    summary = make_data(load_data_config("data.yaml"), "out/")
"""
