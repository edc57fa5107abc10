//! The malformed-file corpus (`fixtures/malformed/`): how each file is made, and its replay.
//!
//! Every case is built here from a few lines of bytes, so the corpus is reviewable and can be
//! regenerated (`WEIGHTGEN_BLESS=1 cargo test --test malformed`, or `make fixtures`). The
//! tests check that the committed files equal what this code builds, and that `weightgen
//! inspect` on each one exits with status 2, prints exactly one `weightgen: error: ` line that
//! contains the case's expected fragment, and never panics. Files dropped into the directory
//! by hand (e.g. a fuzzer's finds) are replayed too, with the same contract minus the fragment.

use std::io::Write;
use std::path::{Path, PathBuf};

mod common;
use common::cli::{command, fixture};

fn dir() -> PathBuf {
    fixture("malformed")
}

struct Case {
    file: &'static str,
    bytes: Vec<u8>,
    /// A fragment the one-line error must contain.
    fragment: &'static str,
}

fn case(file: &'static str, bytes: Vec<u8>, fragment: &'static str) -> Case {
    Case {
        file,
        bytes,
        fragment,
    }
}

// ---------------------------------------------------------------------------------------------
// safetensors

fn st(header: &str, data: usize) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend((0..data).map(|i| (i * 7) as u8));
    v
}

const ST_OK: &str =
    r#"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
const LFS: &[u8] = b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 268435456\n";

fn safetensors_cases() -> Vec<Case> {
    let mut huge_len = st(ST_OK, 16);
    huge_len[..8].copy_from_slice(&(1u64 << 63).to_le_bytes());
    let mut past_end = st(ST_OK, 16);
    past_end[..8].copy_from_slice(&1000u64.to_le_bytes());
    let mut nul = ST_OK.to_string().into_bytes();
    nul.extend([0u8; 6]);
    let mut nul_file = (nul.len() as u64).to_le_bytes().to_vec();
    nul_file.extend(&nul);
    nul_file.extend([0u8; 16]);
    let mut not_utf8 = st(ST_OK, 16);
    not_utf8[20] = 0xff;
    let mut truncated = st(ST_OK, 16);
    truncated.truncate(truncated.len() - 5);
    vec![
        case(
            "st_truncated.safetensors",
            truncated,
            "truncated (5 bytes missing",
        ),
        case(
            "st_trailing_bytes.safetensors",
            st(ST_OK, 19),
            "3 trailing bytes",
        ),
        case(
            "st_overlapping_offsets.safetensors",
            st(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                16,
            ),
            "overlaps the previous tensor",
        ),
        case(
            "st_hole.safetensors",
            st(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#,
                24,
            ),
            "leaves a hole",
        ),
        case(
            "st_huge_header_length.safetensors",
            huge_len,
            "over the format's limit",
        ),
        case(
            "st_header_past_end.safetensors",
            past_end,
            "runs past the end",
        ),
        case("st_nul_padding.safetensors", nul_file, "NUL byte"),
        case(
            "st_duplicate_keys.safetensors",
            // Same offsets twice: the reference reader accepts this; the format forbids it.
            st(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            "duplicate key `w`",
        ),
        case(
            "st_wrong_size.safetensors",
            st(
                r#"{"w":{"dtype":"F32","shape":[3,3],"data_offsets":[0,16]}}"#,
                16,
            ),
            "needs 36",
        ),
        case(
            "st_shape_overflow.safetensors",
            st(
                r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#,
                16,
            ),
            "overflows 64 bits",
        ),
        case("st_not_utf8.safetensors", not_utf8, "not UTF-8"),
        case(
            "st_metadata_not_string.safetensors",
            st(r#"{"__metadata__":{"n":1}}"#, 0),
            "not valid safetensors JSON",
        ),
        case(
            "st_header_is_array.safetensors",
            st("[1,2]", 0),
            "not valid safetensors JSON",
        ),
        case(
            "st_unknown_dtype.safetensors",
            st(
                r#"{"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            "unknown dtype `f32`",
        ),
        case(
            "st_negative_dim.safetensors",
            st(
                r#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                8,
            ),
            "tensor `w`",
        ),
        case("st_too_short.safetensors", vec![8, 0, 0, 0, 0], "too short"),
        case("st_empty.safetensors", vec![], "empty"),
        case(
            "st_lfs_pointer.safetensors",
            LFS.to_vec(),
            "Git LFS pointer",
        ),
        case(
            "st_html_page.safetensors",
            b"<!DOCTYPE html>\n<html><body>Access denied</body></html>\n".to_vec(),
            "HTML page",
        ),
        case(
            "st_bad_plan.safetensors",
            st(
                r#"{"__metadata__":{"weightgen.plan":"[{\"name\":1}]"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            "weightgen.plan",
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// npy

fn npy(version: u8, dict: &str, data: usize) -> Vec<u8> {
    let mut v = b"\x93NUMPY".to_vec();
    v.extend([version, 0]);
    if version == 1 {
        v.extend((dict.len() as u16).to_le_bytes());
    } else {
        v.extend((dict.len() as u32).to_le_bytes());
    }
    v.extend(dict.as_bytes());
    v.extend((0..data).map(|i| (i * 3) as u8));
    v
}

const NPY_OK: &str = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n";

fn npy_cases() -> Vec<Case> {
    let mut past = npy(1, NPY_OK, 16);
    past[8] = 0xff;
    past[9] = 0xff;
    let mut v2_huge = npy(2, NPY_OK, 16);
    v2_huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    vec![
        case("npy_truncated.npy", npy(1, NPY_OK, 10), "truncated"),
        case(
            "npy_trailing_bytes.npy",
            npy(1, NPY_OK, 20),
            "4 trailing bytes",
        ),
        case(
            "npy_bad_magic.npy",
            b"\x93NUMPZ\x01\x00\x10\x00{}".to_vec(),
            "magic",
        ),
        case("npy_version_4.npy", npy(4, NPY_OK, 16), "version 4.0"),
        case("npy_header_past_end.npy", past, "runs past the end"),
        case("npy_v2_huge_header_length.npy", v2_huge, "over the limit"),
        case(
            "npy_nul_padding.npy",
            npy(1, &NPY_OK.replace(" }\n", "}\0\0\0"), 16),
            "NUL",
        ),
        case(
            "npy_missing_key.npy",
            npy(1, "{'descr': '<f4', 'shape': (2, 2), }\n", 16),
            "missing key",
        ),
        case(
            "npy_extra_key.npy",
            npy(1, &NPY_OK.replace("}\n", "'extra': 'x', }\n"), 16),
            "unexpected key `extra`",
        ),
        case(
            "npy_duplicate_key.npy",
            npy(1, &NPY_OK.replace("}\n", "'shape': (4,), }\n"), 16),
            "duplicate key `shape`",
        ),
        case(
            "npy_object_array.npy",
            npy(1, &NPY_OK.replace("<f4", "|O"), 16),
            "pickled",
        ),
        case(
            "npy_shape_is_list.npy",
            npy(1, &NPY_OK.replace("(2, 2)", "[2, 2]"), 16),
            "not supported",
        ),
        case(
            "npy_json_literals.npy",
            npy(1, &NPY_OK.replace("False", "false"), 16),
            "unexpected value",
        ),
        case(
            "npy_shape_overflow.npy",
            npy(
                1,
                &NPY_OK.replace("(2, 2)", "(4294967296, 4294967296, 4)"),
                16,
            ),
            "overflows",
        ),
        case(
            "npy_structured_dtype.npy",
            npy(
                1,
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }\n",
                16,
            ),
            "structured",
        ),
        case(
            "npy_native_byte_order.npy",
            npy(1, &NPY_OK.replace("<f4", "=f4"), 16),
            "native byte order",
        ),
        case("npy_lfs_pointer.npy", LFS.to_vec(), "Git LFS pointer"),
    ]
}

// ---------------------------------------------------------------------------------------------
// npz: a minimal ZIP writer that can lie

struct Member {
    name: &'static [u8],
    method: u16,
    data: Vec<u8>,
    crc: u32,
    /// Declared (compressed, uncompressed) sizes; None = the truth.
    sizes: Option<(u64, u64)>,
    /// Write the sizes as ZIP64 extra fields.
    zip64: bool,
    /// Point the central entry at another member's local header.
    header_of: Option<usize>,
}

fn member(name: &'static [u8], data: Vec<u8>) -> Member {
    let crc = crc32fast::hash(&data);
    Member {
        name,
        method: 0,
        data,
        crc,
        sizes: None,
        zip64: false,
        header_of: None,
    }
}

fn zip(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend(x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend(x.to_le_bytes());
    let fields = |m: &Member| {
        let (c, u) = m
            .sizes
            .unwrap_or((m.data.len() as u64, m.data.len() as u64));
        let extra = if m.zip64 {
            let mut e = vec![1, 0, 16, 0];
            e.extend(u.to_le_bytes());
            e.extend(c.to_le_bytes());
            e
        } else {
            vec![]
        };
        let (c32, u32_) = if m.zip64 {
            (u32::MAX, u32::MAX)
        } else {
            (c as u32, u as u32)
        };
        (c32, u32_, extra)
    };
    for m in members {
        offsets.push(out.len() as u32);
        let (c, u, extra) = fields(m);
        le32(&mut out, 0x0403_4b50);
        le16(&mut out, 45);
        le16(&mut out, 0x0800);
        le16(&mut out, m.method);
        le32(&mut out, 0x0021_0000); // 1980-01-01 00:00
        le32(&mut out, m.crc);
        le32(&mut out, c);
        le32(&mut out, u);
        le16(&mut out, m.name.len() as u16);
        le16(&mut out, extra.len() as u16);
        out.extend(m.name);
        out.extend(&extra);
        out.extend(&m.data);
    }
    let cd_start = out.len() as u32;
    for (i, m) in members.iter().enumerate() {
        let (c, u, extra) = fields(m);
        le32(&mut out, 0x0201_4b50);
        le16(&mut out, 0x031e);
        le16(&mut out, 45);
        le16(&mut out, 0x0800);
        le16(&mut out, m.method);
        le32(&mut out, 0x0021_0000);
        le32(&mut out, m.crc);
        le32(&mut out, c);
        le32(&mut out, u);
        le16(&mut out, m.name.len() as u16);
        le16(&mut out, extra.len() as u16);
        le16(&mut out, 0);
        le16(&mut out, 0);
        le16(&mut out, 0);
        le32(&mut out, 0o100644 << 16);
        le32(&mut out, offsets[m.header_of.unwrap_or(i)]);
        out.extend(m.name);
        out.extend(&extra);
    }
    let cd_len = out.len() as u32 - cd_start;
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, members.len() as u16);
    le16(&mut out, members.len() as u16);
    le32(&mut out, cd_len);
    le32(&mut out, cd_start);
    le16(&mut out, 0);
    out
}

/// A valid npy of four f32 values (the bytes of an npz member).
fn npy4() -> Vec<u8> {
    let mut h = npy(1, NPY_OK, 0);
    for x in [0.5f32, -0.25, 0.125, 0.0] {
        h.extend(x.to_le_bytes());
    }
    h
}

/// A real archive from the `zip` crate: one deflated member holding `npy` bytes.
fn deflated(npy_bytes: &[u8]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    w.start_file("w.npy", o).unwrap();
    w.write_all(npy_bytes).unwrap();
    w.finish().unwrap().into_inner()
}

/// Overwrite the uncompressed size in the local header and the central entry of a one-member
/// archive written by the `zip` crate (no ZIP64, no data descriptor).
fn patch_uncompressed_size(mut z: Vec<u8>, size: u32) -> Vec<u8> {
    z[22..26].copy_from_slice(&size.to_le_bytes());
    let cd = z
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    z[cd + 24..cd + 28].copy_from_slice(&size.to_le_bytes());
    z
}

fn npz_cases() -> Vec<Case> {
    let ok = zip(&[member(b"w.npy", npy4())]);
    let mut truncated = ok.clone();
    truncated.truncate(ok.len() / 2);
    let mut crc = zip(&[member(b"w.npy", npy4())]);
    let data_at = 30 + 5 + npy4().len() - 3;
    crc[data_at] ^= 0x40;
    let mut bomb = member(b"w.npy", vec![0x4b; 100]);
    bomb.method = 8;
    bomb.sizes = Some((100, 1 << 40));
    bomb.zip64 = true;
    let mut lie = member(b"w.npy", npy4());
    lie.sizes = Some((1 << 50, 1 << 50));
    lie.zip64 = true;
    let mut overlap = member(b"b.npy", npy4());
    overlap.header_of = Some(0);
    let mut short = npy(1, &NPY_OK.replace("(2, 2)", "(100,)"), 0);
    short.extend([0u8; 16]);
    let mut bz = member(b"w.npy", npy4());
    bz.method = 12;
    // Deflate stream of the npy plus 4000 more bytes, declared as only the npy's size.
    let mut long = npy4();
    long.extend(vec![7u8; 4000]);
    let more_than_declared = patch_uncompressed_size(deflated(&long), npy4().len() as u32);
    vec![
        case(
            "npz_truncated.npz",
            truncated,
            "not a valid npz (zip) archive",
        ),
        case(
            "npz_path_traversal.npz",
            zip(&[member(b"../../evil.npy", npy4())]),
            "unsafe npz member name",
        ),
        case(
            "npz_absolute_path.npz",
            zip(&[member(b"/etc/evil.npy", npy4())]),
            "unsafe npz member name",
        ),
        case(
            "npz_not_an_npy_member.npz",
            zip(&[member(b"readme.txt", b"hello".to_vec())]),
            "is not an .npy array",
        ),
        case(
            "npz_duplicate_members.npz",
            zip(&[member(b"w.npy", npy4()), member(b"w.npy", npy4())]),
            "duplicate npz member `w.npy`",
        ),
        case(
            "npz_zip_bomb_ratio.npz",
            zip(&[bomb]),
            "beyond deflate's maximum ratio",
        ),
        case("npz_zip64_size_lie.npz", zip(&[lie]), "past the end"),
        case(
            "npz_overlapping_members.npz",
            zip(&[member(b"a.npy", npy4()), overlap]),
            "share bytes",
        ),
        case("npz_crc_mismatch.npz", crc, "CRC-32 mismatch"),
        case(
            "npz_member_too_short.npz",
            zip(&[member(b"w.npy", short)]),
            "bytes short",
        ),
        case(
            "npz_bad_npy_member.npz",
            zip(&[member(b"w.npy", b"\x93NUMPY\x09\x00garbage".to_vec())]),
            "version 9.0",
        ),
        case(
            "npz_unsupported_compression.npz",
            zip(&[bz]),
            "not supported",
        ),
        case(
            "npz_more_than_declared.npz",
            more_than_declared,
            "more bytes than declared",
        ),
        case("npz_lfs_pointer.npz", LFS.to_vec(), "Git LFS pointer"),
    ]
}

fn index_cases() -> Vec<Case> {
    vec![
        case(
            "index_path_traversal.index.json",
            br#"{"metadata":{"total_size":16},"weight_map":{"w":"../../etc/model.safetensors"}}"#
                .to_vec(),
            "in the index's own directory",
        ),
        case(
            "index_duplicate_keys.index.json",
            br#"{"weight_map":{"w":"a.safetensors","w":"b.safetensors"}}"#.to_vec(),
            "duplicate key `w`",
        ),
        case(
            "index_missing_shard.index.json",
            br#"{"weight_map":{"w":"model-00001-of-00002.safetensors"}}"#.to_vec(),
            "cannot open",
        ),
    ]
}

fn cases() -> Vec<Case> {
    let mut v = safetensors_cases();
    v.extend(npy_cases());
    v.extend(npz_cases());
    v.extend(index_cases());
    v
}

#[test]
fn committed_corpus_is_what_this_file_builds() {
    let bless = std::env::var_os("WEIGHTGEN_BLESS").is_some();
    let d = dir();
    let mut stale = Vec::new();
    for c in cases() {
        let p = d.join(c.file);
        if bless {
            std::fs::write(&p, &c.bytes).unwrap();
        } else if std::fs::read(&p).ok().as_deref() != Some(&c.bytes[..]) {
            stale.push(c.file);
        }
    }
    assert!(
        stale.is_empty(),
        "fixtures/malformed out of date (regenerate with WEIGHTGEN_BLESS=1 cargo test --test malformed): {stale:?}"
    );
}

/// `weightgen inspect --check PATH`: exit code, stdout, stderr.
fn inspect_check(path: &Path) -> (Option<i32>, String, String) {
    let path = path.to_str().expect("UTF-8 path");
    let out = command(&dir(), &["inspect", "--check", path])
        .output()
        .expect("run weightgen");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_malformed_file_exits_2_with_one_line_naming_the_problem() {
    let known = cases();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "README.md")
        .collect();
    files.sort();
    assert!(files.len() >= known.len(), "corpus missing files");
    let mut problems = Vec::new();
    for p in &files {
        let name = p.file_name().unwrap().to_str().unwrap();
        let (code, stdout, stderr) = inspect_check(p);
        let lines: Vec<&str> = stderr.lines().collect();
        let fragment = known.iter().find(|c| c.file == name).map(|c| c.fragment);
        let ok = code == Some(2)
            && stdout.is_empty()
            && lines.len() == 1
            && lines[0].starts_with("weightgen: error: ")
            && !stderr.contains("panicked")
            && !stderr.contains("internal error")
            && fragment.is_none_or(|f| lines[0].contains(f));
        if !ok {
            problems.push(format!(
                "{name}: exit {code:?}, stderr {stderr:?}, expected fragment {fragment:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
