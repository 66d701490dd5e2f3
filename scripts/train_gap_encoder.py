"""Train the gap report's fixed encoder and write assets/gap_encoder_v<N>.pt; prints its SHA-256.

Run once per ENCODER_VERSION; paste the printed hash into domain_adapt/encoder.py (ENCODER_SHA256).
"""

import hashlib
import io
import time
from pathlib import Path

import torch

from scenesmith.domain_adapt.encoder import ENCODER_FILE, train_encoder

if __name__ == "__main__":
    started = time.perf_counter()
    state = train_encoder(seed=0)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    target = Path(__file__).resolve().parent.parent / "assets" / ENCODER_FILE
    target.write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    print(f"{target}: sha256 {digest} ({time.perf_counter() - started:.0f} s)")
