//! Tests of the in-memory backend's crash and fault model.

use super::*;
use std::collections::BTreeSet;

fn p(path: &str) -> &Path {
    Path::new(path)
}

/// A storage with directory `/d` created.
fn storage_with_dir() -> MemoryStorage {
    let storage = MemoryStorage::new();
    storage.create_dir_all(p("/d")).unwrap();
    storage
}

/// Creates `/d/f` durably (entry synced, empty) and returns its handle.
fn durable_file(storage: &MemoryStorage) -> Arc<dyn StorageFile> {
    let file = storage.open(p("/d/f"), OpenMode::Create).unwrap();
    storage.sync_dir(p("/d")).unwrap();
    file
}

fn read_all(file: &dyn StorageFile) -> Vec<u8> {
    let mut buf = vec![0; usize::try_from(file.len().unwrap()).unwrap()];
    file.read_exact_at(&mut buf, 0).unwrap();
    buf
}

fn is_injected(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Other && e.to_string().contains("injected fault")
}

#[test]
fn unsynced_write_is_lost_by_crash_clean_and_kept_by_crash_keep_all() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    file.write_at(b"hello", 0).unwrap();
    assert_eq!(storage.crash_clean().read_file(p("/d/f")).unwrap(), b"");
    assert_eq!(
        storage.crash_keep_all().read_file(p("/d/f")).unwrap(),
        b"hello"
    );
}

#[test]
fn crash_keep_all_keeps_unsynced_directory_entries() {
    let storage = storage_with_dir();
    storage.open(p("/d/new"), OpenMode::Create).unwrap();
    assert!(storage.crash_keep_all().exists(p("/d/new")));
}

#[test]
fn synced_write_survives_every_crash_seed() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    file.write_at(b"durable", 0).unwrap();
    file.sync_data().unwrap();
    for seed in 0..200 {
        assert_eq!(
            storage.crash(seed).read_file(p("/d/f")).unwrap(),
            b"durable"
        );
    }
}

/// Every state reachable by applying a prefix of `ops` to `base`, with the
/// first unapplied write possibly torn.
fn allowed_outcomes(base: &[u8], ops: &[(usize, &[u8])]) -> (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) {
    let (mut whole, mut torn) = (BTreeSet::new(), BTreeSet::new());
    let mut bytes = base.to_vec();
    for &(pos, data) in ops {
        whole.insert(bytes.clone());
        for cut in 1..data.len() {
            let mut partial = bytes.clone();
            write_into(&mut partial, pos, &data[..cut]);
            torn.insert(partial);
        }
        write_into(&mut bytes, pos, data);
    }
    whole.insert(bytes);
    torn.retain(|outcome| !whole.contains(outcome));
    (whole, torn)
}

#[test]
fn crash_outcomes_are_durable_contents_plus_a_prefix_of_unsynced_writes_possibly_torn() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    file.write_at(b"base", 0).unwrap();
    file.sync_data().unwrap();
    let ops: [(usize, &[u8]); 3] = [(4, b"-first"), (10, b"-second"), (2, b"XYZW")];
    for (pos, data) in ops {
        file.write_at(data, u64::try_from(pos).unwrap()).unwrap();
    }
    let (whole, torn) = allowed_outcomes(b"base", &ops);
    let (mut saw_whole, mut saw_torn) = (BTreeSet::new(), 0);
    for seed in 0..500 {
        let outcome = storage.crash(seed).read_file(p("/d/f")).unwrap();
        if whole.contains(&outcome) {
            saw_whole.insert(outcome);
        } else {
            assert!(torn.contains(&outcome), "seed {seed}: {outcome:?}");
            saw_torn += 1;
        }
    }
    assert_eq!(saw_whole, whole, "every whole prefix occurs");
    assert!(saw_torn > 0, "torn outcomes occur");
}

#[test]
fn crash_is_deterministic_for_a_seed_and_state() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    for i in 0..20u8 {
        file.write_at(&[i; 100], u64::from(i) * 50).unwrap();
    }
    for seed in 0..50 {
        assert_eq!(
            storage.crash(seed).read_file(p("/d/f")),
            storage.crash(seed).read_file(p("/d/f"))
        );
    }
}

#[test]
fn set_len_shrink_is_undone_by_crash_when_unsynced() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    file.write_at(b"0123456789", 0).unwrap();
    file.sync_data().unwrap();
    file.set_len(3).unwrap();
    assert_eq!(storage.file_len(p("/d/f")), Some(3));
    assert_eq!(storage.crash_clean().file_len(p("/d/f")), Some(10));
    file.sync_data().unwrap();
    assert_eq!(storage.crash_clean().read_file(p("/d/f")).unwrap(), b"012");
}

#[test]
fn set_len_extends_with_zeros() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    file.write_at(b"ab", 0).unwrap();
    file.set_len(4).unwrap();
    assert_eq!(read_all(file.as_ref()), b"ab\0\0");
}

#[test]
fn rename_without_sync_dir_is_undone_by_crash_and_kept_after_sync_dir() {
    let storage = storage_with_dir();
    let file = storage.open(p("/d/tmp"), OpenMode::Create).unwrap();
    file.write_at(b"meta", 0).unwrap();
    file.sync_data().unwrap();
    storage.sync_dir(p("/d")).unwrap();
    storage.rename(p("/d/tmp"), p("/d/meta")).unwrap();
    assert!(storage.exists(p("/d/meta")) && !storage.exists(p("/d/tmp")));

    let crashed = storage.crash_clean();
    assert!(crashed.exists(p("/d/tmp")) && !crashed.exists(p("/d/meta")));

    storage.sync_dir(p("/d")).unwrap();
    let crashed = storage.crash_clean();
    assert!(!crashed.exists(p("/d/tmp")));
    assert_eq!(crashed.read_file(p("/d/meta")).unwrap(), b"meta");
}

#[test]
fn rename_across_directories_is_durable_per_directory_synced() {
    let storage = storage_with_dir();
    storage.create_dir_all(p("/e")).unwrap();
    durable_file(&storage);
    storage.rename(p("/d/f"), p("/e/g")).unwrap();
    storage.sync_dir(p("/e")).unwrap();
    // Only the target directory synced: both names survive, one file.
    let crashed = storage.crash_clean();
    assert!(crashed.exists(p("/d/f")) && crashed.exists(p("/e/g")));
    storage.sync_dir(p("/d")).unwrap();
    let crashed = storage.crash_clean();
    assert!(!crashed.exists(p("/d/f")) && crashed.exists(p("/e/g")));
}

#[test]
fn rename_replaces_the_target_and_needs_an_existing_source() {
    let storage = storage_with_dir();
    storage.write_file_raw(p("/d/a"), b"new").unwrap();
    storage.write_file_raw(p("/d/b"), b"old").unwrap();
    storage.rename(p("/d/a"), p("/d/b")).unwrap();
    assert_eq!(storage.read_file(p("/d/b")).unwrap(), b"new");
    let kind = storage.rename(p("/d/a"), p("/d/c")).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
    let kind = storage.rename(p("/d/b"), p("/nodir/c")).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
    assert!(storage.exists(p("/d/b")), "failed rename changes nothing");
}

#[test]
fn removal_without_sync_dir_is_undone_by_crash_and_kept_after_sync_dir() {
    let storage = storage_with_dir();
    durable_file(&storage);
    storage.remove_file(p("/d/f")).unwrap();
    assert!(!storage.exists(p("/d/f")));
    assert!(storage.crash_clean().exists(p("/d/f")));
    storage.sync_dir(p("/d")).unwrap();
    assert!(!storage.crash_clean().exists(p("/d/f")));
}

#[test]
fn created_file_is_lost_by_crash_without_dir_sync_even_with_data_synced() {
    let storage = storage_with_dir();
    let file = storage.open(p("/d/f"), OpenMode::Create).unwrap();
    file.write_at(b"data", 0).unwrap();
    file.sync_data().unwrap();
    for seed in 0..20 {
        assert!(!storage.crash(seed).exists(p("/d/f")));
    }
    assert!(storage.crash_clean().list_dir(p("/d")).unwrap().is_empty());
}

#[test]
fn handle_of_removed_file_still_reads_and_writes() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    file.write_at(b"kept", 0).unwrap();
    storage.remove_file(p("/d/f")).unwrap();
    assert_eq!(read_all(file.as_ref()), b"kept");
    file.write_at(b"!", 4).unwrap();
    assert_eq!(read_all(file.as_ref()), b"kept!");
    assert_eq!(
        storage
            .open(p("/d/f"), OpenMode::Existing)
            .unwrap_err()
            .kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn old_handles_after_crash_touch_only_the_old_state() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    let crashed = storage.crash_keep_all();
    file.write_at(b"late", 0).unwrap();
    assert_eq!(crashed.read_file(p("/d/f")).unwrap(), b"");
    crashed.remove_file(p("/d/f")).unwrap();
    assert!(storage.exists(p("/d/f")));
}

#[test]
fn fail_after_fails_the_next_mutating_op_and_everything_afterwards() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    storage.fail_after(2);
    file.write_at(b"one", 0).unwrap();
    let _ = read_all(file.as_ref()); // reads are not counted
    file.sync_data().unwrap();
    assert!(is_injected(&file.write_at(b"two", 3).unwrap_err()));
    let mut buf = [0; 1];
    assert!(is_injected(&file.read_at(&mut buf, 0).unwrap_err()));
    assert!(is_injected(&file.len().unwrap_err()));
    assert!(is_injected(&storage.list_dir(p("/d")).unwrap_err()));
    assert!(is_injected(
        &storage.open(p("/d/f"), OpenMode::Existing).unwrap_err()
    ));
    assert!(is_injected(&storage.lock_dir(p("/d")).unwrap_err()));
    assert!(is_injected(&storage.sync_dir(p("/d")).unwrap_err()));
    assert!(!storage.exists(p("/d")));
    // The crash functions still see the state of the dead storage.
    assert_eq!(storage.crash_clean().read_file(p("/d/f")).unwrap(), b"one");
    storage.clear_faults();
    file.write_at(b"two", 3).unwrap();
}

#[test]
fn fail_after_zero_fails_the_very_next_mutating_op() {
    let storage = MemoryStorage::new();
    storage.fail_after(0);
    let e = storage.create_dir_all(p("/d")).unwrap_err();
    assert!(is_injected(&e));
    assert_eq!(storage.mutating_ops(), 0);
}

#[test]
fn write_failed_by_injection_applies_a_strict_prefix() {
    let data: Vec<u8> = (0..=255).collect();
    let mut saw_partial = false;
    for before in 0..20 {
        let storage = storage_with_dir();
        let file = durable_file(&storage);
        for _ in 0..before {
            file.set_len(0).unwrap();
        }
        storage.fail_after(0);
        assert!(is_injected(&file.write_at(&data, 0).unwrap_err()));
        let got = storage.read_file(p("/d/f")).unwrap();
        assert!(got.len() < data.len() && data.starts_with(&got));
        saw_partial |= !got.is_empty();
    }
    assert!(saw_partial);
}

#[test]
fn fail_syncs_makes_syncs_fail_but_writes_succeed() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    storage.fail_syncs(true);
    file.write_at(b"x", 0).unwrap();
    assert!(is_injected(&file.sync_data().unwrap_err()));
    storage.open(p("/d/g"), OpenMode::Create).unwrap();
    assert!(is_injected(&storage.sync_dir(p("/d")).unwrap_err()));
    // Nothing became durable.
    let crashed = storage.crash_clean();
    assert_eq!(crashed.read_file(p("/d/f")).unwrap(), b"");
    assert!(!crashed.exists(p("/d/g")));
    storage.fail_syncs(false);
    file.sync_data().unwrap();
    assert_eq!(storage.crash_clean().read_file(p("/d/f")).unwrap(), b"x");
}

#[test]
fn mutating_ops_counts_mutations_and_not_reads() {
    let storage = MemoryStorage::new();
    storage.create_dir_all(p("/d")).unwrap(); // 1
    let file = storage.open(p("/d/f"), OpenMode::Create).unwrap(); // 2
    storage.open(p("/d/f"), OpenMode::OpenOrCreate).unwrap(); // exists: a read
    storage.open(p("/d/f"), OpenMode::Existing).unwrap();
    file.write_at(b"abc", 0).unwrap(); // 3
    file.set_len(2).unwrap(); // 4
    file.sync_data().unwrap(); // 5
    storage.sync_dir(p("/d")).unwrap(); // 6
    storage.rename(p("/d/f"), p("/d/g")).unwrap(); // 7
    storage.remove_file(p("/d/g")).unwrap(); // 8
    storage.remove_dir_all(p("/d")).unwrap(); // 9
    let _ = storage.list_dir(p("/"));
    let _ = storage.exists(p("/d"));
    let _ = read_all(file.as_ref());
    drop(storage.lock_dir(p("/")).unwrap());
    assert_eq!(storage.mutating_ops(), 9);
}

/// A small metadata-checkpoint scenario: temp file, fsync, rename, dir fsync.
fn checkpoint(storage: &MemoryStorage, contents: &[u8]) -> io::Result<()> {
    storage.create_dir_all(p("/data"))?;
    let tmp = storage.open(p("/data/cp.tmp"), OpenMode::Create)?;
    tmp.write_at(contents, 0)?;
    tmp.sync_data()?;
    storage.rename(p("/data/cp.tmp"), p("/data/cp"))?;
    storage.sync_dir(p("/data"))
}

#[test]
fn replaying_a_scenario_with_a_crash_after_each_op_never_leaves_a_partial_checkpoint() {
    let probe = MemoryStorage::new();
    checkpoint(&probe, b"checkpoint").unwrap();
    let total = probe.mutating_ops();
    assert_eq!(total, 6);
    for k in 0..=total {
        for seed in 0..20 {
            let storage = MemoryStorage::new();
            storage.fail_after(k);
            let result = checkpoint(&storage, b"checkpoint");
            assert_eq!(result.is_ok(), k == total);
            assert_eq!(storage.mutating_ops(), k);
            let after = storage.crash(seed);
            if let Some(cp) = after.read_file(p("/data/cp")) {
                assert_eq!(cp, b"checkpoint", "k {k} seed {seed}");
            }
        }
    }
}

#[test]
fn lock_dir_is_exclusive_across_clones_until_the_guard_drops() {
    let storage = storage_with_dir();
    let clone = storage.clone();
    let guard = storage.lock_dir(p("/d")).unwrap();
    let kind = clone.lock_dir(p("/d/")).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::WouldBlock);
    // Locks are not carried over to a crashed storage.
    drop(storage.crash_keep_all().lock_dir(p("/d")).unwrap());
    drop(guard);
    clone.lock_dir(p("/d")).unwrap();
    let kind = storage.lock_dir(p("/missing")).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
}

#[test]
fn list_dir_returns_sorted_files_and_subdirectories() {
    let storage = MemoryStorage::new();
    storage.create_dir_all(p("/d/sub/deeper")).unwrap();
    storage.create_dir_all(p("/d0")).unwrap();
    storage.open(p("/d/b.log"), OpenMode::Create).unwrap();
    storage.open(p("/d/a.log"), OpenMode::Create).unwrap();
    assert_eq!(
        storage.list_dir(p("/d")).unwrap(),
        ["a.log", "b.log", "sub"]
    );
    assert_eq!(storage.list_dir(p("/")).unwrap(), ["d", "d0"]);
    let kind = storage.list_dir(p("/nope")).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
    let kind = storage.list_dir(p("/d/a.log")).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
}

#[test]
fn open_modes_respect_existence_and_missing_directories() {
    let storage = storage_with_dir();
    let kind = storage
        .open(p("/nodir/f"), OpenMode::OpenOrCreate)
        .unwrap_err()
        .kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
    let kind = storage
        .open(p("/d/f"), OpenMode::Existing)
        .unwrap_err()
        .kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
    let file = storage.open(p("/d/f"), OpenMode::Create).unwrap();
    file.write_at(b"hello", 3).unwrap();
    assert_eq!(read_all(file.as_ref()), b"\0\0\0hello");
    let kind = storage
        .open(p("/d/f"), OpenMode::Create)
        .unwrap_err()
        .kind();
    assert_eq!(kind, io::ErrorKind::AlreadyExists);
    let again = storage
        .open(p("/d/./x/../f"), OpenMode::OpenOrCreate)
        .unwrap();
    assert_eq!(read_all(again.as_ref()), b"\0\0\0hello");
    assert!(file.std_file().is_none());
    let kind = storage
        .open(p("/d"), OpenMode::OpenOrCreate)
        .unwrap_err()
        .kind();
    assert_eq!(kind, io::ErrorKind::IsADirectory);
}

#[test]
fn remove_dir_all_removes_everything_below_at_once_even_durably() {
    let storage = storage_with_dir();
    storage.create_dir_all(p("/d/sub")).unwrap();
    durable_file(&storage);
    storage.remove_dir_all(p("/d")).unwrap();
    assert!(!storage.exists(p("/d/f")) && !storage.exists(p("/d/sub")));
    assert!(!storage.crash_clean().exists(p("/d")));
    let kind = storage.remove_dir_all(p("/d")).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::NotFound);
}

#[test]
fn create_dir_all_is_durable_at_once() {
    let storage = MemoryStorage::new();
    storage.create_dir_all(p("/a/b")).unwrap();
    assert_eq!(storage.crash(7).list_dir(p("/a")).unwrap(), ["b"]);
}

#[test]
fn write_file_raw_overwrites_durably_and_total_bytes_sums_files() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    file.write_at(b"unsynced", 0).unwrap();
    storage.write_file_raw(p("/d/f"), b"raw").unwrap();
    storage.write_file_raw(p("/d/g"), b"12345").unwrap();
    assert_eq!(read_all(file.as_ref()), b"raw");
    assert_eq!(storage.total_bytes(), 8);
    let crashed = storage.crash(3);
    assert_eq!(crashed.read_file(p("/d/f")).unwrap(), b"raw");
    assert_eq!(crashed.file_len(p("/d/g")), Some(5));
    assert_eq!(storage.file_len(p("/d/none")), None);
}

#[test]
fn oversized_offsets_fail_instead_of_allocating() {
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    let kind = file.write_at(b"x", u64::MAX).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::FileTooLarge);
    let kind = file.set_len(MAX_FILE_LEN + 1).unwrap_err().kind();
    assert_eq!(kind, io::ErrorKind::FileTooLarge);
    let mut buf = [0; 4];
    assert_eq!(file.read_at(&mut buf, u64::MAX).unwrap(), 0);
    assert_eq!(file.len().unwrap(), 0);
}

#[test]
fn many_small_synced_appends_stay_cheap() {
    // 16 MiB in 4 KiB appends, each synced: a sync that copied the whole
    // file would move ~32 GiB here and make this test crawl.
    let storage = storage_with_dir();
    let file = durable_file(&storage);
    let chunk = [7u8; 4096];
    for i in 0..4096u64 {
        file.write_at(&chunk, i * 4096).unwrap();
        file.sync_data().unwrap();
    }
    assert_eq!(storage.crash(1).file_len(p("/d/f")), Some(16 << 20));
}

#[test]
fn memory_storage_is_send_sync_and_clones_share_state() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MemoryStorage>();
    let storage = storage_with_dir();
    storage
        .clone()
        .write_file_raw(p("/d/f"), b"shared")
        .unwrap();
    assert_eq!(storage.read_file(p("/d/f")).unwrap(), b"shared");
}

#[test]
fn a_plain_storage_keeps_each_written_byte_once_and_a_simulating_one_up_to_three_times() {
    let mb = 1 << 20;
    let chunk = vec![3u8; 64 << 10];
    let fill = |storage: &MemoryStorage| {
        storage.create_dir_all(p("/d")).unwrap();
        let file = storage.open(p("/d/f"), OpenMode::Create).unwrap();
        for i in 0..16u64 {
            file.write_at(&chunk, i * chunk.len() as u64).unwrap();
        }
        file
    };
    let plain = MemoryStorage::plain();
    let file = fill(&plain);
    assert_eq!(plain.memory_bytes(), Some(mb), "one copy before a sync");
    file.sync_data().unwrap();
    assert_eq!(plain.memory_bytes(), Some(mb), "and after it");
    assert_eq!(
        plain.crash_clean().file_len(p("/d/f")),
        Some(mb),
        "nothing is lost"
    );

    let simulating = MemoryStorage::new();
    let file = fill(&simulating);
    assert_eq!(simulating.memory_bytes(), Some(2 * mb), "current + pending");
    file.sync_data().unwrap();
    assert_eq!(simulating.memory_bytes(), Some(2 * mb), "current + durable");
}

#[test]
fn cutting_a_plain_file_gives_its_memory_back() {
    let storage = MemoryStorage::plain();
    storage.create_dir_all(p("/d")).unwrap();
    let file = storage.open(p("/d/f"), OpenMode::Create).unwrap();
    file.write_at(&vec![1u8; 1 << 20], 0).unwrap();
    file.set_len(10).unwrap();
    assert_eq!(storage.memory_bytes(), Some(10));
    storage.remove_file(p("/d/f")).unwrap();
    assert_eq!(storage.memory_bytes(), Some(0));
}
