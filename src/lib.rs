/*!
IMEI blocklists compiled into memory-mapped finite-state transducers, for Equipment
Identity Registers.

An EIR is asked on every attach whether a handset may use the network. This crate answers
from one immutable index file that holds national, GSMA and operator lists as [`fst`]
maps: every process on a node maps the same file and shares one copy of it, opening costs
microseconds, and a check is a few hundred nanoseconds.

# Overview

* [`Imei`], [`ImeiSv`], [`Tac`] and [`Imsi`] parse identifiers strictly, with typed errors
  that say what is wrong and where; [`Imei::parse_lenient`] classifies forged IMEIs too.
* A [`Rule`] matches an IMEI+IMSI pair, an exact IMEI, an inclusive IMEI range or a whole
  TAC, and carries an [`Entry`]: a [`Status`], an optional [`Reason`] and [`Date`].
* [`IndexBuilder`] takes rules in any order (or [list files](list)), merges duplicates and
  writes an index file atomically.
* [`Index`] opens a file (memory-mapped) or bytes, verifies it, and answers a [`Verdict`]:
  the most specific matching rule (pair > IMEI > narrowest range > TAC), or unknown.
* Lists change daily: [`diff`] streams the [`Change`]s between two indexes, [`Apply`] folds
  [`Delta`]s (built by a [`DeltaBuilder`], e.g. from [delta lists](list::DeltaReader)) into
  the next index, and [`Merge`] combines indexes by a [`Precedence`]; all are sorted merges
  of the transducers, linear in time and constant in memory. A [`LayeredIndex`] checks
  deltas over a base without rebuilding.
* [`publish`] verifies an index, refuses a suspect one (empty, removing most rules, older:
  see [`PublishOptions`]) and renames it over the path readers follow, and a
  [`LiveIndex`] swaps the new file in while serving checks, never blocking them.
* [`scan::Scanner`] finds the rows of connection logs (IMSI, MSISDN, IMEI …) whose
  handset is listed, on every core, for re-verifying the connections behind it.

Beside this crate, in the same workspace: `imei-index-cli` (the `imei-index` command),
`imei-index-capi` (the C library `libimei_index`, its header and pkg-config file; see
`docs/c-api.md`), benchmarks and protocol examples.

# Example

```
use imei_index::{Entry, Imei, Imsi, Index, IndexBuilder, Reason, Rule, RuleKind, Status, Tac};

let dir = tempfile::tempdir()?;
let path = dir.path().join("national.imeiidx");

let mut builder = IndexBuilder::new();
// A counterfeit model: every IMEI of its TAC is blocked...
let tac = Tac::parse("35209900")?;
builder.add(Rule::tac(tac, Entry::new(Status::Blocked).with_reason(Reason::Counterfeit)));
// ...except one genuine handset, with the SIM it is paired with.
let genuine = Imei::parse("35-209900-176148-1")?;
let sim = Imsi::parse("404685505601234")?;
builder.add(Rule::pair(genuine, sim, Entry::new(Status::Allowed)));
// A stolen handset.
let stolen = Imei::parse("354178036859789")?;
builder.add(Rule::imei(stolen, Entry::new(Status::Blocked).with_reason(Reason::Stolen)));
let summary = builder.build_to_file(&path)?;
assert_eq!(summary.rules_written, 3);

let index = Index::open(&path)?;
let v = index.check(stolen);
assert_eq!((v.status(), v.reason(), v.rule()), (Some(Status::Blocked), Some(Reason::Stolen), Some(RuleKind::Imei)));
assert_eq!(index.check(genuine).status(), Some(Status::Blocked));
assert_eq!(index.check_with_imsi(genuine, &sim).status(), Some(Status::Allowed));
assert!(!index.check(Imei::parse("490154203237518")?).is_listed());
# Ok::<(), Box<dyn std::error::Error>>(())
```

# Safety of shared, mapped files

An index file is mapped read-only. Changing a mapped file while it is in use is undefined
behaviour (and a `SIGBUS` when it shrinks), so index files must never be modified in place:
every writer in this crate writes a new file beside the old one, flushes it, and renames it
over the old name. Processes that mapped the old file keep reading the old, unchanged inode.
[`AtomicFile`] is that mechanism, for any file a program writes. Do the same with any other
tool: copy to a temporary name in the same directory, then `mv` it into place (or use
[`publish`]); never `cp` over or truncate a published index.

Bytes are untrusted: opening checks the header and, by default, every section's checksum,
so a truncated, empty, foreign or corrupted file is an [`Error`], not a panic.
[`Verification::Full`] also walks every transducer, for files from sources you do not trust.

# Crate features

No feature is on by default: an EIR that depends on this crate compiles the core alone
(`fst`, `memmap2`, `bytes`, `thiserror`, `crc32fast`, `memchr`, and `arc-swap` for
[`LiveIndex`]).

* `s13`: the `s13` module: Diameter S13 ME-Identity-Check messages and a peer connection
  that answers them from an index (no dependencies beyond the core's).
* `synth`: the `synth` module: seeded synthetic lists, probes and connection logs shaped
  like real ones, for demos, tests and benchmarks.

# Compatibility

Index files of every earlier format version keep opening and answer the same (the test
suite holds fixtures of each); see `docs/compatibility.md` for what changes a format
version and what only adds a section.
*/

#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

// The layers, bottom up: each imports only from the layers above it in this list
// (docs/architecture.md).
mod build; // the builder, the shared writer, spilled runs, atomic files
mod error;
mod format; // the file's encodings: header, keys, filter, transducer nodes, segments
pub mod list; // list files: CSV records, list and delta readers, formatters, DIRBS files
mod model; // identifiers, rules, verdicts, changes
mod read; // opening, checking, verifying, statistics, iteration
pub mod register; // a national register's lists into indexes and deltas
#[cfg(feature = "s13")]
pub mod s13;
pub mod scan; // the re-verification scan
mod serve; // layered indexes, live reload, publishing
#[cfg(feature = "synth")]
pub mod synth;
mod update; // sorted unions: diff, deltas, apply, merge

pub use crate::build::atomic::AtomicFile;
pub use crate::build::builder::{BuildPhase, BuildSummary, IndexBuilder, Progress};
pub use crate::error::{Error, ErrorChain, Origin, Refusal};
pub use crate::format::blocks::ImeiBlockStats;
pub use crate::format::filter::DEFAULT_FILTER_BITS;
pub use crate::format::{FORMAT_VERSION, FormatError, RuleCounts, Section, walk_limit};
pub use crate::model::change::Change;
pub use crate::model::device::{Device, DeviceInfo, TacPolicy, TacTable};
pub use crate::model::field::{FieldError, Reason};
pub use crate::model::ident::{CheckDigit, IdError, Imei, ImeiSv, Imsi, LenientImei, Msisdn, Tac};
pub use crate::model::rule::{Date, Entry, PolicyReason, Rule, RuleKind, Status, Target, Verdict};
pub use crate::model::source::{Reasons, Source};
pub use crate::model::subscriber::{Subscriber, SubscriberList};
pub use crate::read::index::{Described, Index};
pub use crate::read::open::{OpenOptions, Verification};
pub use crate::read::rules::Rules;
pub use crate::read::stats::IndexStats;
pub use crate::serve::layered::LayeredIndex;
pub use crate::serve::live::{LiveIndex, RefusedReload, Reload, Version, Watcher};
pub use crate::serve::publish::{DEFAULT_MAX_REMOVED_SHARE, PublishOptions, Published, publish};
pub use crate::update::apply::{Apply, ApplySummary};
pub use crate::update::delta::{Delta, DeltaBuilder, DeltaSummary};
pub use crate::update::diff::{Diff, diff};
pub use crate::update::merge::{Merge, MergeSummary, Precedence};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
