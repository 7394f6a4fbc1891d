//! `imei-index merge`: several full indexes into one.

use std::path::PathBuf;
use std::time::Instant;

use imei_index::{Merge, Precedence, Verification};

use super::{CliResult, Outcome, bytes, count, open_index, refuse_overlaps};

/// Which rule wins for a target several inputs list.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PrecedenceArg {
    /// The most severe status (blocked > tracked > allowed), then the latest date.
    Severity,
    /// The first input, in the order given, that lists the target.
    Order,
}

/// Arguments of `merge`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The indexes to merge, in order of authority for `--precedence order`.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The index file to write. It is written beside the file and renamed over it, never in
    /// place; publish it with `publish`.
    #[arg(short, long, value_name = "INDEX")]
    output: PathBuf,
    /// Which rule wins when several inputs have one for the same target (the most specific
    /// target still wins at check time, whatever the inputs' order).
    #[arg(long, value_enum, default_value = "severity")]
    precedence: PrecedenceArg,
    /// The merged index's serial (default: the greatest of the inputs').
    #[arg(long)]
    serial: Option<u64>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    let inputs: Vec<_> = args
        .inputs
        .iter()
        .map(|p| ("input index", p.as_path()))
        .collect();
    refuse_overlaps(&inputs, &[("output index", &args.output)])?;
    let started = Instant::now();
    let inputs = args
        .inputs
        .iter()
        .map(|p| open_index(p, Verification::Full))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<_> = inputs.iter().collect();
    let mut merge = Merge::new(&refs);
    merge.precedence(match args.precedence {
        PrecedenceArg::Severity => Precedence::Severity,
        PrecedenceArg::Order => Precedence::Order,
    });
    if let Some(s) = args.serial {
        merge.serial(s);
    }
    let s = merge.build_to_file(&args.output)?;
    println!(
        "merged {} indexes: {} rules in = {} written + {} merged ({} with conflicting status)",
        inputs.len(),
        count(s.rules_in),
        count(s.rules_written),
        count(s.merged),
        count(s.conflicts),
    );
    println!(
        "wrote {}: serial {}, {} in {:.2} s",
        args.output.display(),
        s.serial,
        bytes(s.index_bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Success)
}
