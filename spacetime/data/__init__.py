"""Real datasets: manifests and folders (`manifest`), buckets (`buckets`), batches (`dataset`), latent cache."""

from spacetime.data.buckets import Bucket, assign_bucket, make_buckets, num_tokens
from spacetime.data.manifest import ClipEntry, ClipInfo, ProbeSummary, probe_entries, read_manifest, scan_folder

__all__ = ["Bucket", "ClipEntry", "ClipInfo", "ProbeSummary", "assign_bucket", "make_buckets", "num_tokens",
           "probe_entries", "read_manifest", "scan_folder"]
