//! The crash-safe swap of cleaned segments, and its recovery on open.
//!
//! ```text
//! 1. write BASE.log.cleaned, BASE.index.cleaned, BASE.timeindex.cleaned; fsync them
//! 2. rename the three  *.cleaned -> *.swap;  fsync the directory   <- commit point
//! 3. remove the replaced segments' files (BASE.log and the others of the
//!    group); fsync the directory, so no old file can outlive step 4
//! 4. rename the three  *.swap -> final names;  fsync the directory
//! ```
//!
//! On open ([`recover`]): `*.cleaned` files are leftovers of an uncommitted
//! round and are removed (the old segments are all still there). A
//! `BASE.log.swap` means the swap was committed: every old segment whose
//! base offset lies in `[BASE, next offset of the swap segment)` is removed
//! (as Kafka's log loader does), then the `.swap` files take their final
//! names. An old segment of the group that the cleaner emptied completely
//! lies beyond that range and survives such a recovery: it holds only
//! records superseded later in the log, so replay is unchanged, and the
//! next round removes it. Index `.swap` files without a `.log.swap` belong
//! to a log file already renamed: they are renamed too.
//!
//! Knows segment file names and the storage seam, nothing of records.

use super::super::error::{IoContext, LogError};
use super::super::segment::{
    HeaderScanner, INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX, file_stem, parse_stem,
};
use super::super::storage::{OpenMode, Storage};
use std::path::Path;

/// Tail of a cleaned segment's files while they are written (step 1).
pub const CLEANED_TAIL: &str = ".cleaned";
/// Tail of a cleaned segment's files once the swap is committed (step 2).
pub const SWAP_TAIL: &str = ".swap";

const SUFFIXES: [&str; 3] = [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX];

fn remove_if_present(storage: &dyn Storage, path: &Path) -> Result<(), LogError> {
    match storage.remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::Io {
            action: "remove segment file",
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Removes a cleaned segment that will not be swapped in (best effort is
/// not enough: a leftover would be found again on open, which is harmless,
/// but a failing storage must be reported).
///
/// # Errors
/// Any I/O error but a missing file.
pub fn discard(storage: &dyn Storage, segment: Segment) -> Result<(), LogError> {
    segment.delete(storage)
}

/// Steps 2–4 for `new` (written and fsynced under [`CLEANED_TAIL`]),
/// replacing the segments whose base offsets are `old_bases`.
///
/// # Errors
/// Any I/O error; the caller must poison the log, since memory and files may
/// then disagree (the next open finishes or discards the swap).
pub fn swap_in(
    storage: &dyn Storage,
    dir: &Path,
    new: &mut Segment,
    old_bases: &[i64],
) -> Result<(), LogError> {
    new.rename_tail(storage, SWAP_TAIL)?;
    storage.sync_dir(dir).context("sync log directory", dir)?;
    for &base in old_bases {
        for suffix in SUFFIXES {
            remove_if_present(storage, &dir.join(format!("{}{suffix}", file_stem(base))))?;
        }
    }
    storage.sync_dir(dir).context("sync log directory", dir)?;
    new.rename_tail(storage, "")?;
    storage.sync_dir(dir).context("sync log directory", dir)
}

/// Finishes or discards a swap a crash interrupted (see the module doc).
/// Returns whether anything changed, so the caller lists the directory again.
///
/// # Errors
/// Any I/O error.
pub fn recover(storage: &dyn Storage, dir: &Path, names: &[String]) -> Result<bool, LogError> {
    let mut changed = false;
    for name in names.iter().filter(|n| n.ends_with(CLEANED_TAIL)) {
        remove_if_present(storage, &dir.join(name))?;
        changed = true;
    }
    let swaps: Vec<&String> = names.iter().filter(|n| n.ends_with(SWAP_TAIL)).collect();
    if swaps.is_empty() {
        if changed {
            storage.sync_dir(dir).context("sync log directory", dir)?;
        }
        return Ok(changed);
    }
    let old_bases: Vec<i64> = names
        .iter()
        .filter_map(|n| parse_stem(n, LOG_SUFFIX))
        .collect();
    let log_swap_tail = format!("{LOG_SUFFIX}{SWAP_TAIL}");
    for name in &swaps {
        let Some(base) = parse_stem(name, &log_swap_tail) else {
            continue;
        };
        let path = dir.join(name.as_str());
        let file = storage
            .open(&path, OpenMode::Existing)
            .context("open swap segment", &path)?;
        let len = file.len().context("stat swap segment", &path)?;
        let mut scanner = HeaderScanner::new(&*file, 0, len);
        let mut next = base;
        while let Some((_, h)) = scanner.next().context("scan swap segment", &path)? {
            next = h.next_offset();
        }
        for &old in old_bases
            .iter()
            .filter(|&&b| b == base || (b > base && b < next))
        {
            for suffix in SUFFIXES {
                remove_if_present(storage, &dir.join(format!("{}{suffix}", file_stem(old))))?;
            }
        }
    }
    // Every .swap file (the log's and its indexes') takes its final name.
    for name in swaps {
        let Some(final_name) = name.strip_suffix(SWAP_TAIL) else {
            continue;
        };
        let to = dir.join(final_name);
        storage
            .rename(&dir.join(name.as_str()), &to)
            .context("finish segment swap", &to)?;
    }
    storage.sync_dir(dir).context("sync log directory", dir)?;
    Ok(true)
}
