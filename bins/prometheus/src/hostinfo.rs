//! What Prometheus logs about the host at start-up: uname, resource limits, file system type.

/// A resource limit Prometheus reports at start-up.
#[derive(Clone, Copy)]
pub(crate) enum Limit {
    /// Open file descriptors (`RLIMIT_NOFILE`, `fd_limits`).
    Files,
    /// Virtual memory (`RLIMIT_AS`, `vm_limits`).
    AddressSpace,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod sys {
    use std::ffi::CStr;

    use super::Limit;

    fn field(chars: &[libc::c_char]) -> String {
        // SAFETY: uname fills each field with a NUL-terminated string within the array.
        let c = unsafe { CStr::from_ptr(chars.as_ptr()) };
        c.to_string_lossy().into_owned()
    }

    pub(super) fn uname() -> Option<[String; 6]> {
        // SAFETY: utsname is plain data; uname only writes into it.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: `u` is a valid, writable utsname.
        if unsafe { libc::uname(&mut u) } != 0 {
            return None;
        }
        Some([
            field(&u.sysname),
            field(&u.release),
            field(&u.version),
            field(&u.machine),
            field(&u.nodename),
            field(&u.domainname),
        ])
    }

    pub(super) fn rlimit(limit: Limit) -> Option<(u64, u64)> {
        let resource = match limit {
            Limit::Files => libc::RLIMIT_NOFILE,
            Limit::AddressSpace => libc::RLIMIT_AS,
        };
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
            return None;
        }
        Some((r.rlim_cur, r.rlim_max))
    }

    pub(super) const INFINITY: u64 = libc::RLIM_INFINITY;

    pub(super) fn fs_magic(path: &std::path::Path) -> Option<i64> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: statfs is plain data; statfs only writes into it.
        let mut s: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a NUL-terminated path, `s` a valid, writable statfs.
        if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
            return None;
        }
        Some(s.f_type)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod sys {
    use super::Limit;

    pub(super) fn uname() -> Option<[String; 6]> {
        None
    }

    pub(super) fn rlimit(_limit: Limit) -> Option<(u64, u64)> {
        None
    }

    pub(super) const INFINITY: u64 = u64::MAX;

    pub(super) fn fs_magic(_path: &std::path::Path) -> Option<i64> {
        None
    }
}

/// `(sysname release version machine nodename domainname)`, as Prometheus's
/// `host_details`; `(unknown)` where uname fails.
pub(crate) fn host_details() -> String {
    match sys::uname() {
        Some(f) => format!("({})", f.join(" ")),
        None => "(unknown)".to_owned(),
    }
}

/// `(soft=N, hard=N)` with `unlimited` for no limit, as Prometheus's `fd_limits` and
/// `vm_limits`.
pub(crate) fn limits_text(limit: Limit) -> String {
    let text = |v: u64| {
        if v == sys::INFINITY {
            "unlimited".to_owned()
        } else {
            v.to_string()
        }
    };
    match sys::rlimit(limit) {
        Some((soft, hard)) => format!("(soft={}, hard={})", text(soft), text(hard)),
        None => "(unknown)".to_owned(),
    }
}

/// The type of the file system holding `path` by its Linux magic number's name
/// (`EXT4_SUPER_MAGIC`), as Prometheus's "filesystem information" line; the magic number
/// in hex when it is not one of the usual ones, `unknown` when statfs fails.
pub(crate) fn fs_type(path: &std::path::Path) -> String {
    let Some(magic) = sys::fs_magic(path) else {
        return "unknown".to_owned();
    };
    fs_type_name(magic).map_or_else(|| format!("{magic:x}"), str::to_owned)
}

fn fs_type_name(magic: i64) -> Option<&'static str> {
    Some(match magic {
        0xef53 => "EXT4_SUPER_MAGIC",
        0x5846_5342 => "XFS_SUPER_MAGIC",
        0x9123_683e => "BTRFS_SUPER_MAGIC",
        0x0102_1994 => "TMPFS_MAGIC",
        0x6969 => "NFS_SUPER_MAGIC",
        0x794c_7630 => "OVERLAYFS_SUPER_MAGIC",
        0x2fc1_2fc1 => "ZFS_SUPER_MAGIC",
        0x5346_544e => "NTFS_SB_MAGIC",
        0x4d44 => "MSDOS_SUPER_MAGIC",
        0x6573_5546 => "FUSE_SUPER_MAGIC",
        0x6462_6720 => "DEBUGFS_MAGIC",
        0x9fa0 => "PROC_SUPER_MAGIC",
        0x6265_6572 => "SYSFS_MAGIC",
        0x0102_1997 => "V9FS_MAGIC",
        0xf2f5_2010 => "F2FS_SUPER_MAGIC",
        0xff53_4d42 => "CIFS_MAGIC_NUMBER",
        0x5265_4973 => "REISERFS_SUPER_MAGIC",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_like_prometheus() {
        assert_eq!(fs_type_name(0xef53), Some("EXT4_SUPER_MAGIC"));
        assert_eq!(fs_type_name(0x1234), None);
        let host = host_details();
        assert!(host.starts_with('(') && host.ends_with(')'), "{host}");
        let fds = limits_text(Limit::Files);
        assert!(fds.starts_with("(soft="), "{fds}");
    }
}
