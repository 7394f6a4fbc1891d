//! `imei-index publish`: verify an index, compare it with the live one, guard against a
//! suspect one, then atomically replace the live one with it.

use std::path::{Path, PathBuf};

use imei_index::{
    Delta, ErrorChain, FormatError, OpenOptions, PublishOptions, Published, Refusal, RuleCounts,
    RuleKind, Status, Verification,
};

use super::{CliResult, Failure, Outcome, bytes, count, refuse_overlaps, warn};

/// Arguments of `publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index file to publish (from `build`, `apply` or `merge`).
    source: PathBuf,
    /// The path that running readers follow. It is replaced by a rename: readers see the
    /// old file or the new one, never a mix, and those still using the old one keep it.
    target: PathBuf,
    /// Publish even an index that the guards refuse: one with no rules, one that removes
    /// more than --max-removed of the target's rules, one whose serial is lower than the
    /// target's, or a delta index over a full one (or the other way round). A corrupt
    /// index is refused all the same.
    #[arg(long)]
    force: bool,
    /// The share of the target's rules, in percent, that the new index may remove before
    /// it is refused (0 to 100).
    #[arg(long, value_name = "PERCENT", default_value = "50", value_parser = parse_percent)]
    max_removed: f64,
}

/// Parses a percentage from 0 to 100, with or without a `%`.
fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let t = t.strip_suffix('%').unwrap_or(t).trim();
    match t.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "{s:?} is not a percentage: give a number from 0 to 100, like 50"
        )),
    }
}

pub(crate) fn run(args: &Args) -> CliResult {
    refuse_overlaps(
        &[("index to publish", &args.source)],
        &[("target", &args.target)],
    )?;
    let mut options = PublishOptions::new();
    options
        .max_removed_share(args.max_removed / 100.0)
        .force(args.force);
    let p = match options.publish(&args.source, &args.target) {
        Ok(p) => p,
        Err(e @ imei_index::Error::Refused { .. }) => {
            // Ran, and refused the input: say what it would have changed, then why not.
            print_refused(&args.source, &args.target);
            eprintln!("imei-index: error: {}", ErrorChain(&e));
            return Ok(Outcome::Invalid);
        }
        Err(e) => {
            return Err(Failure::new(format!(
                "{}; {} was left as it was",
                ErrorChain(&e),
                args.target.display()
            )));
        }
    };
    print_published(&p, &args.source, &args.target);
    if let Some(refusal) = &p.forced {
        warn(format_args!(
            "--force published an index that the guards refuse: {}",
            short(refusal)
        ));
    }
    Ok(Outcome::Success)
}

/// What was published, and what it changed against the index it replaced.
fn print_published(p: &Published, source: &Path, target: &Path) {
    let replaced = match p.replaced {
        Some((serial, rules)) => format!(", replacing serial {serial} ({} rules)", count(rules)),
        None => String::new(),
    };
    println!(
        "published {} as {}: verified, serial {}, {} rules, {}{replaced}",
        source.display(),
        target.display(),
        p.serial,
        count(p.rules),
        bytes(p.bytes),
    );
    if p.delta {
        println!(
            "  a delta index: {} new or changed rules, {} removed",
            count(p.added),
            count(p.removed)
        );
    } else if p.replaced.is_some() {
        println!(
            "  changes: {} added, {} changed, {} removed",
            count(p.added),
            count(p.changed),
            count(p.removed)
        );
    } else {
        println!(
            "  changes: {} added (the target held no index)",
            count(p.added)
        );
    }
    if let Some((serial, _)) = p.replaced {
        println!("  serial: {serial} -> {}", p.serial);
    }
    print_counts(p.replaced_counts.as_ref(), &p.counts);
}

/// Rules by kind and by status, old -> new.
fn print_counts(old: Option<&RuleCounts>, new: &RuleCounts) {
    let pair = |old: Option<u64>, new: u64| match old {
        Some(o) => format!("{} -> {}", count(o), count(new)),
        None => count(new),
    };
    let kinds: Vec<String> = RuleKind::ALL
        .iter()
        .map(|&k| format!("{k} {}", pair(old.map(|c| c.of_kind(k)), new.of_kind(k))))
        .collect();
    let statuses: Vec<String> = Status::ALL
        .iter()
        .rev()
        .map(|&s| {
            format!(
                "{s} {}",
                pair(old.map(|c| c.of_status(s)), new.of_status(s))
            )
        })
        .collect();
    println!("  rules by kind: {}", kinds.join(", "));
    println!("  rules by status: {}", statuses.join(", "));
}

/// The serial and rule counts of a full or delta index, from its header; `None` when it
/// is not a readable index.
fn header(path: &Path) -> Option<(u64, RuleCounts)> {
    match OpenOptions::new()
        .verification(Verification::Trusted)
        .open(path)
    {
        Ok(i) => Some((i.serial(), i.stats().counts)),
        Err(e) if e.as_format() == Some(&FormatError::IsDelta) => {
            let d = Delta::open_with(path, Verification::Trusted).ok()?;
            Some((d.serial(), d.rules()))
        }
        Err(_) => None,
    }
}

/// What a refused index would have replaced, from both headers (both are unchanged).
fn print_refused(source: &Path, target: &Path) {
    let Some((serial, counts)) = header(source) else {
        return;
    };
    let old = header(target);
    let against = match &old {
        Some((s, c)) => format!(
            " against {} (serial {s}, {} rules)",
            target.display(),
            count(c.total())
        ),
        None => String::new(),
    };
    println!(
        "not published: {} (serial {serial}, {} rules){against}",
        source.display(),
        count(counts.total())
    );
    print_counts(old.as_ref().map(|(_, c)| c), &counts);
}

/// A refusal's reason, without its advice.
fn short(r: &Refusal) -> String {
    match r {
        Refusal::Empty => "it holds no rules".into(),
        Refusal::RemovesTooMany { removed, of, .. } => format!(
            "it removed {} of the {} rules of the index it replaced",
            count(*removed),
            count(*of)
        ),
        Refusal::SerialGoesBack { from, to } => {
            format!("its serial {to} is lower than the serial {from} of the index it replaced")
        }
        Refusal::KindChanges { delta: true } => "it is a delta index over a full index".into(),
        Refusal::KindChanges { delta: false } => "it is a full index over a delta index".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_percent;

    #[test]
    fn percentages_from_0_to_100() {
        assert_eq!(parse_percent("50"), Ok(50.0));
        assert_eq!(parse_percent("12.5%"), Ok(12.5));
        assert_eq!(parse_percent("0"), Ok(0.0));
        assert_eq!(parse_percent("100 %"), Ok(100.0));
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("half").is_err());
    }
}
