//! `logbus verify DATA`: checks every partition of a stopped broker's data
//! directory: every batch's header, offsets and CRC, and that the
//! segments' offsets join up (a missing segment file is a hole). Prints
//! each damaged range (partition directory, offsets, file and byte, what
//! is wrong) and exits non-zero if there is any.
//!
//! With `--skip-damaged` it gives up each damaged range on purpose: the
//! damaged batch and the rest of its segment are cut, the range is
//! recorded in the partition's `skipped-ranges` file, and readers go on
//! after it. Records before and after the range stay. It exits 0 once
//! every range was skipped.
//!
//! It takes the data directory's lock, so the broker must be stopped. It
//! opens each partition as the broker does (so a crash's torn tail is cut
//! as the broker's recovery would) and closes it cleanly.

use anyhow::{Context, bail};
use logbus::clock::SystemClock;
use logbus::log::storage::{FileStorage, Storage};
use logbus::log::{LOG_SUFFIX, Log, LogConfig, parse_stem};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// The broker's data directory (`--data` of `serve`).
    dir: PathBuf,
    /// Skip each damaged range on purpose: its records are given up, the
    /// rest of the partition is served again.
    #[arg(long)]
    skip_damaged: bool,
}

/// Runs `logbus verify`.
///
/// # Errors
/// The directory cannot be read or locked, a partition cannot be opened,
/// or damage was found (and not skipped).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let _lock = logbus::log::lock_data_dir(&*storage, &args.dir).with_context(|| {
        format!(
            "cannot lock {}; stop the broker using it first",
            args.dir.display()
        )
    })?;
    let partitions = partition_dirs(&*storage, &args.dir)?;
    let (mut damaged, mut skipped) = (0usize, 0usize);
    for dir in &partitions {
        let log = Log::open(
            Arc::clone(&storage),
            dir,
            LogConfig::default(),
            Arc::new(SystemClock),
        )
        .with_context(|| format!("cannot open {}", dir.display()))?;
        let ranges = log
            .scan_damage()
            .with_context(|| format!("cannot read {}", dir.display()))?;
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if ranges.is_empty() {
            println!(
                "ok {name}: offsets {}..{}",
                log.log_start_offset(),
                log.log_end_offset()
            );
        }
        for range in &ranges {
            damaged += 1;
            println!("DAMAGED {name}: {range}");
            if args.skip_damaged {
                log.skip_damaged(range)
                    .with_context(|| format!("cannot skip damage in {}", dir.display()))?;
                skipped += 1;
                println!(
                    "skipped {name}: offsets {}..{} given up",
                    range.first_offset, range.end_offset
                );
            }
        }
        log.close()
            .with_context(|| format!("cannot close {}", dir.display()))?;
    }
    println!(
        "{} partitions checked, {damaged} damaged ranges, {skipped} skipped",
        partitions.len()
    );
    if damaged > skipped {
        bail!(
            "{} damaged ranges found; `logbus verify --skip-damaged {}` gives them up",
            damaged - skipped,
            args.dir.display()
        );
    }
    Ok(())
}

/// The partition directories under `data`: those holding segment files.
fn partition_dirs(storage: &dyn Storage, data: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for name in storage
        .list_dir(data)
        .with_context(|| format!("cannot list {}", data.display()))?
    {
        let path = data.join(&name);
        if !path.is_dir() {
            continue;
        }
        let has_segments = storage
            .list_dir(&path)
            .map(|names| names.iter().any(|n| parse_stem(n, LOG_SUFFIX).is_some()))
            .unwrap_or(false);
        if has_segments {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
