//! `logbus dump DIR`: prints a partition directory's batches (offsets,
//! record counts, timestamps, codec, producer fields, CRC status) and fails
//! if any batch is damaged. Reads only; never repairs.

use anyhow::Context;
use logbus::log::storage::{FileStorage, OpenMode, Storage};
use logbus::log::{LOG_SUFFIX, file_stem, parse_stem};
use logbus::record::{BatchHeader, header};
use std::io::Write;

/// Runs `logbus dump`.
///
/// # Errors
/// The directory cannot be read, or a damaged batch was found.
pub fn dump(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let storage = FileStorage::new();
    let names = storage
        .list_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?;
    let mut segments: Vec<i64> = names
        .iter()
        .filter_map(|n| parse_stem(n, LOG_SUFFIX))
        .collect();
    segments.sort_unstable();
    let (mut batches, mut bad) = (0u64, 0u64);
    for base in segments {
        let path = dir.join(format!("{}{LOG_SUFFIX}", file_stem(base)));
        let file = storage
            .open(&path, OpenMode::Existing)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.len()?;
        writeln!(out, "segment {} ({len} bytes)", path.display())?;
        let mut data = vec![0u8; len as usize];
        file.read_exact_at(&mut data, 0)?;
        let mut at = 0usize;
        while at < data.len() {
            let h = match BatchHeader::parse(&data[at..]) {
                Ok(Some(h)) if h.total_len() <= data.len() - at => h,
                Ok(_) => {
                    writeln!(
                        out,
                        "  position {at}: torn tail of {} bytes",
                        data.len() - at
                    )?;
                    bad += 1;
                    break;
                }
                Err(e) => {
                    writeln!(out, "  position {at}: not a batch ({e}); stopping")?;
                    bad += 1;
                    break;
                }
            };
            let crc = match header::verify_crc(&data[at..at + h.total_len()]) {
                Ok(()) => "ok".to_string(),
                Err(e) => {
                    bad += 1;
                    e.to_string()
                }
            };
            writeln!(
                out,
                "  offset {}..={} position {at} size {} records {} base_ts {} max_ts {} codec {} producer {}/{}/{} crc {crc}",
                h.base_offset,
                h.last_offset(),
                h.total_len(),
                h.record_count,
                h.base_timestamp,
                h.max_timestamp,
                h.compression_code(),
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
            )?;
            batches += 1;
            at += h.total_len();
        }
    }
    writeln!(out, "{batches} batches, {bad} damaged")?;
    if bad > 0 {
        anyhow::bail!("{bad} damaged batches found");
    }
    Ok(())
}
