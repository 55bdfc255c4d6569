"""The CLI itself: outputs that cannot be written."""

from __future__ import annotations

import json

from testing.fuzz import Case


def _units(kit) -> str:
    return str(kit.write("units.json", json.dumps(list(range(1, 17)))))


CASES = [
    Case("vocode --out", "a folder", lambda kit: ["vocode", "--decoder", str(kit.decoder()), "--units",
                                                 _units(kit), "--out", str(kit.folder)], says=("folder",)),
]
