"""Which clips a dataset holds: a manifest (CSV or JSONL) or a folder of videos with captions.

Manifest columns / keys: `path` (relative to the manifest's folder, or absolute), `caption`,
and optionally `start` and `end` (seconds) and `fps` (the rate to sample that clip at).

    path,caption,start,end
    clips/a.mp4,"a dog runs on a beach",0,4.5
    {"path": "clips/b.mov", "caption": "waves at dusk", "fps": 12}

A folder: every video or image file below it, captioned by the .txt of the same name
(`a.mp4` + `a.txt`); a file without one gets the empty caption (counted in the summary).

Every file is probed once (size, frame rate, duration) and the result cached in a JSON
file beside the data, keyed by path, size and modification time. A file that cannot be
used (unreadable, no video stream, too short) is skipped with a log line and counted in
the summary; it never stops a run and is never dropped silently.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spacetime.errors import RequestError, SpacetimeError

log = logging.getLogger("spacetime.data")

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif", ".mpg", ".mpeg", ".ts"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


class ManifestError(RequestError):
    """A manifest or data folder that cannot be read at all (a single bad clip is skipped instead)."""


@dataclass
class ClipEntry:
    """One clip as listed: a file, its caption, an optional span in seconds and sampling rate."""

    path: str
    caption: str = ""
    start: float = 0.0
    end: float | None = None
    fps: float | None = None


@dataclass
class ClipInfo:
    """A listed clip that probed fine: the entry plus its frame size and usable span."""

    entry: ClipEntry
    width: int
    height: int
    duration: float  # seconds usable: min(end, file duration) - start; 0 for an image
    source_fps: float
    is_image: bool = False


@dataclass
class ProbeSummary:
    usable: int = 0
    skipped: list = field(default_factory=list)  # [(path, reason)]
    uncaptioned: int = 0

    def __str__(self) -> str:
        text = f"{self.usable} clips usable, {len(self.skipped)} skipped"
        if self.uncaptioned:
            text += f", {self.uncaptioned} without caption"
        if self.skipped:
            shown = "; ".join(f"{Path(p).name} ({why})" for p, why in self.skipped[:5])
            text += f": {shown}" + (" ..." if len(self.skipped) > 5 else "")
        return text


def read_manifest(path: str | Path) -> list[ClipEntry]:
    """Entries of a .csv (header row with at least path,caption) or .jsonl manifest."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist; pass a .csv or .jsonl file (see docs/training.md)")
    rows: list[dict] = []
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ManifestError(f"{path}: the first row must name the columns, with at least 'path' and 'caption'")
            rows = list(reader)
    elif path.suffix in (".jsonl", ".json"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{number} is not a JSON object ({e.msg}); one object per line") from None
            if not isinstance(row, dict) or "path" not in row:
                raise ManifestError(f"{path}:{number} must be a JSON object with a 'path'")
            rows.append(row)
    else:
        raise ManifestError(f"{path}: a manifest is .csv or .jsonl, not {path.suffix or 'no suffix'}")
    entries = []
    for number, row in enumerate(rows, 1):
        unknown = sorted(set(row) - {"path", "caption", "start", "end", "fps"})
        if unknown:
            raise ManifestError(f"{path}: row {number} has unknown field(s) {unknown}; "
                                "known: path, caption, start, end, fps")
        try:
            file = Path(str(row["path"]))
            entries.append(ClipEntry(
                path=str(file if file.is_absolute() else path.parent / file),
                caption=str(row.get("caption") or ""),
                start=float(row.get("start") or 0.0),
                end=None if row.get("end") in (None, "") else float(row["end"]),
                fps=None if row.get("fps") in (None, "") else float(row["fps"]),
            ))
        except (TypeError, ValueError) as e:
            raise ManifestError(f"{path}: row {number}: start, end and fps must be numbers ({e})") from None
    if not entries:
        raise ManifestError(f"manifest {path} lists no clips")
    return entries


def scan_folder(folder: str | Path) -> list[ClipEntry]:
    """Every video/image file below `folder` (sorted), captioned by its same-name .txt."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"data folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES)
    if not files:
        raise ManifestError(f"{folder} holds no video or image files ({', '.join(sorted(VIDEO_SUFFIXES))}, ...)")
    entries = []
    for file in files:
        txt = file.with_suffix(".txt")
        entries.append(ClipEntry(path=str(file), caption=txt.read_text().strip() if txt.is_file() else ""))
    return entries


def _file_key(path: str) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def probe_entries(entries: list[ClipEntry], cache_path: str | Path | None = None,
                  min_seconds: float = 0.0) -> tuple[list[ClipInfo], ProbeSummary]:
    """Probe every entry (once: results are cached in `cache_path`); skip and count the bad ones.

    min_seconds: videos whose usable span is shorter are skipped as too short.
    """
    from spacetime.video import probe

    cache: dict = {}
    if cache_path is not None and Path(cache_path).is_file():
        try:
            cache = json.loads(Path(cache_path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("probe cache %s is unreadable; probing again", cache_path)
    clips, summary, changed = [], ProbeSummary(), False
    for entry in entries:
        try:
            key = _file_key(entry.path)
        except OSError as e:
            _skip(summary, entry.path, f"cannot open: {e.strerror or e}")
            continue
        record = cache.get(entry.path)
        if record is None or record.get("key") != key:
            try:
                info = probe(entry.path)
                record = {"key": key, "width": info.width, "height": info.height, "fps": info.fps or 0.0,
                          "duration": info.duration, "is_image": bool(info.is_image)}
            except SpacetimeError as e:
                record = {"key": key, "error": str(e).split(": ", 1)[-1] if str(e) else "unreadable"}
            except Exception as e:  # a decoder crash on one file must not end the scan
                record = {"key": key, "error": f"{type(e).__name__}: {e}"}
            cache[entry.path] = record
            changed = True
        if "error" in record:
            _skip(summary, entry.path, record["error"])
            continue
        if record["is_image"]:
            duration = 0.0
        else:
            end = record["duration"] if entry.end is None else min(entry.end, record["duration"])
            duration = end - entry.start
            if duration <= 0 or duration < min_seconds:
                _skip(summary, entry.path, f"too short: {max(duration, 0):.2f} s usable, need {min_seconds:.2f} s")
                continue
        clips.append(ClipInfo(entry, int(record["width"]), int(record["height"]), float(duration),
                              float(record["fps"]), bool(record["is_image"])))
        summary.uncaptioned += not entry.caption
    summary.usable = len(clips)
    if changed and cache_path is not None:
        tmp = Path(cache_path).with_name(f".{Path(cache_path).name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(json.dumps(cache))
            os.replace(tmp, cache_path)
        except OSError as e:  # a read-only data folder: probe again next time
            log.warning("cannot write probe cache %s (%s)", cache_path, e)
    return clips, summary


def _skip(summary: ProbeSummary, path: str, reason: str) -> None:
    log.warning("skipping %s: %s", path, reason)
    summary.skipped.append((path, reason))


def entry_dict(entry: ClipEntry) -> dict:
    return asdict(entry)
