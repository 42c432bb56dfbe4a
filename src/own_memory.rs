//! svinit's own memory once the boot has settled (and the spawner's once
//! it serves): the pages of its code and read-only data that start-up
//! mapped (the config parser, the kernel's fault-around of 64 KiB at a
//! time) are let go, so what stays resident is what the loop runs. They
//! remain in the page cache and come back on use (a minor fault).

unsafe extern "C" {
    /// Start of the executable's image (its first, read-only segment):
    /// defined by the linker.
    static __executable_start: u8;
    /// End of `.text`, before the relocated read-only data (RELRO) and
    /// the writable segments, which are left alone.
    static etext: u8;
}

/// Unmaps (`MADV_DONTNEED`) svinit's code and read-only data up to the end
/// of `.text`. Both are file-backed and never written: nothing is lost, a
/// page is mapped again from the page cache when next run.
pub(crate) fn release_startup_pages() {
    let (start, end) = (
        &raw const __executable_start as usize,
        &raw const etext as usize,
    );
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        size if size > 0 => size as usize,
        _ => return,
    };
    let start = start & !(page - 1);
    let end = end & !(page - 1);
    if end <= start {
        return;
    }
    let addr = start as *mut libc::c_void;
    // SAFETY: [start, end) lies inside svinit's own file-backed,
    // read-only image (from its first byte to the end of .text): dropping
    // those pages' mappings loses nothing.
    unsafe { libc::madvise(addr, end - start, libc::MADV_DONTNEED) };
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "service \"a\" {\n    exec \"/bin/true\"\n}\n";

    /// Kilobytes of this process's own executable that are mapped.
    fn own_image_rss_kb() -> u64 {
        let exe = std::fs::read_link("/proc/self/exe").expect("own exe");
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("own smaps");
        let mut in_image = false;
        let mut rss = 0;
        for line in smaps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [range, perms, .., path] if range.contains('-') && perms.len() == 4 => {
                    in_image = std::path::Path::new(path) == exe && !perms.contains('w');
                }
                ["Rss:", kb, "kB"] if in_image => rss += kb.parse::<u64>().expect("kB"),
                _ => {}
            }
        }
        rss
    }

    /// Other tests running beside it map code back in: the measure runs
    /// alone, in a test process of its own (`measured_alone`).
    #[test]
    fn the_pages_start_up_mapped_are_let_go_and_come_back_on_use() {
        let exe = std::env::current_exe().expect("the test binary");
        let alone = std::process::Command::new(exe)
            .args(["--exact", "own_memory::tests::measured_alone"])
            .args(["--ignored", "--test-threads=1", "--nocapture"])
            .output()
            .expect("run the test binary");
        let text = String::from_utf8_lossy(&alone.stdout);
        assert!(alone.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    #[test]
    #[ignore = "run alone by the_pages_start_up_mapped_are_let_go_and_come_back_on_use"]
    fn measured_alone() {
        // Run a good deal of code first (the config parser and checker).
        let _ = crate::config::load_sources(vec![("a.kdl".into(), UNIT.into())]);
        let before = own_image_rss_kb();
        release_startup_pages();
        let after = own_image_rss_kb();
        assert!(
            after * 2 < before,
            "mapped code and read-only data: {before} kB before, {after} kB after"
        );
        // Still runs: the pages come back from the page cache.
        let again = crate::config::load_sources(vec![("a.kdl".into(), UNIT.into())]);
        assert!(again.is_ok());
    }
}
