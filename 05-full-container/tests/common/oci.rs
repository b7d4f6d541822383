//! OCI image layouts made in a test with the tar crate: honest ones, and
//! ones with a wrong digest, a truncated layer or a hostile entry.

use std::path::Path;

use sha2::{Digest, Sha256};

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A tar of `entries`: (name, kind, data or link target). Names are written
/// into the header as they are (the tar crate refuses `..` otherwise).
pub fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(if *kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        let body: &[u8] = match kind {
            tar::EntryType::Regular => data.as_bytes(),
            tar::EntryType::Symlink | tar::EntryType::Link => {
                header.set_link_name(data).expect("link name");
                b""
            }
            _ => b"",
        };
        header.set_size(body.len() as u64);
        header.set_cksum();
        builder.append(&header, body).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

/// Extended attributes of one file: (name, value).
pub type Xattrs<'a> = Vec<(&'a str, Vec<u8>)>;

/// A tar of regular files, each after a pax header carrying its extended
/// attributes as GNU tar writes them (`SCHILY.xattr.NAME=VALUE`).
pub fn tar_with_xattrs(files: &[(&str, &str, Xattrs<'_>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data, xattrs) in files {
        let mut records = Vec::new();
        for (key, value) in xattrs {
            // "LEN KEY=VALUE\n", where LEN counts the whole record, itself included.
            let rest = format!(" SCHILY.xattr.{key}=").len() + value.len() + 1;
            let mut len = rest + 1;
            while (len.to_string().len() + rest) != len {
                len = len.to_string().len() + rest;
            }
            records.extend_from_slice(format!("{len} SCHILY.xattr.{key}=").as_bytes());
            records.extend_from_slice(value);
            records.push(b'\n');
        }
        let mut pax = tar::Header::new_ustar();
        pax.set_path("PaxHeaders/x").expect("pax name");
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_cksum();
        builder.append(&pax, &records[..]).expect("append pax");
        let mut header = tar::Header::new_ustar();
        header.set_path(name).expect("name");
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o755);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data.as_bytes()).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// One layer of a test layout: the blob, the digest the manifest gives it,
/// the diff_id the config gives it.
pub struct Blob {
    /// The blob as stored.
    pub bytes: Vec<u8>,
    /// The digest the manifest gives it.
    pub digest: String,
    /// The diff_id the config gives it.
    pub diff_id: String,
}

/// An honest gzip layer of `tar`.
pub fn honest(tar: &[u8]) -> Blob {
    let bytes = gzip(tar);
    Blob {
        digest: sha(&bytes),
        diff_id: sha(tar),
        bytes,
    }
}

/// An OCI image layout of `layers` in a new directory `dir`.
pub fn layout(dir: &Path, layers: &[Blob]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir blobs");
    let put = |bytes: &[u8], digest: &str| {
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).expect("blob");
    };
    for l in layers {
        put(&l.bytes, &l.digest);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()},
    })
    .to_string();
    put(config.as_bytes(), &sha(config.as_bytes()));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config.as_bytes()), "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": l.digest, "size": l.bytes.len()})).collect::<Vec<_>>(),
    })
    .to_string();
    put(manifest.as_bytes(), &sha(manifest.as_bytes()));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha(manifest.as_bytes()), "size": manifest.len()}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
}
