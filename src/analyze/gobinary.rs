//! The build information every Go binary carries (Go 1.13 and later), read from the ELF file
//! without running Go: the `.go.buildinfo` section starts with the 14-byte magic
//! `\xff Go buildinf:`, a pointer size and a flags byte. Since Go 1.18 (flag bit 2) the Go version
//! and the module information follow inline as varint-prefixed strings; before that, two
//! pointers lead to Go string headers elsewhere in the data. The module information is the text
//! `go version -m` prints: `path`, `mod`, `dep`, `=>` (replacement) and `build` lines.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use object::{Object, ObjectSection, ObjectSegment};

/// The buildinfo header's magic.
const MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// A module the binary was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub version: String,
    pub sum: String,
    /// What a `replace` directive put in its place.
    pub replacement: Option<Box<Module>>,
}

/// What a Go binary says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoBinary {
    /// e.g. `go1.22.1`.
    pub go_version: String,
    /// The main package's import path.
    pub path: String,
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    /// `build` lines in order: `-compiler=gc`, `CGO_ENABLED=0`, `vcs.revision=…`.
    pub settings: Vec<(String, String)>,
    /// GOARCH from the ELF machine.
    pub arch: String,
    /// Whether the symbol table and DWARF are gone (`-ldflags=-s -w`).
    pub stripped: bool,
    /// Whether the binary needs a dynamic loader (an `.interp` section).
    pub dynamic: bool,
    /// Bytes of the symbol table, its strings and debug sections: what stripping would save.
    pub symbol_bytes: u64,
}

impl GoBinary {
    /// A build setting's value, e.g. `setting("CGO_ENABLED")`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// Why a file's build information could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}: not an ELF file: {1}")]
    NotElf(String, object::Error),
    #[error("{0}: not a Go binary (no Go build information)")]
    NotGo(String),
    #[error("{0}: malformed Go build information")]
    Malformed(String),
}

/// Reads the build information of the ELF file at `path`; `Error::NotGo` for other programs.
pub fn read(path: &Path) -> Result<GoBinary, Error> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::Io(name.clone(), e))?;
    let cache = object::read::ReadCache::new(file);
    let elf = object::File::parse(&cache).map_err(|e| Error::NotElf(name.clone(), e))?;
    let (go_version, modinfo) = buildinfo(&elf).ok_or_else(|| Error::NotGo(name.clone()))?;
    let mut binary = parse_modinfo(&modinfo).ok_or_else(|| Error::Malformed(name.clone()))?;
    binary.go_version = go_version;
    binary.arch = goarch(elf.architecture(), elf.is_little_endian()).to_owned();
    let mut symbol_bytes = 0;
    let mut has_symtab = false;
    let mut dynamic = false;
    for section in elf.sections() {
        let section_name = section.name().unwrap_or_default();
        if section_name == ".symtab" {
            has_symtab = true;
        }
        if section_name == ".interp" {
            dynamic = true;
        }
        if matches!(section_name, ".symtab" | ".strtab")
            || section_name.starts_with(".debug_")
            || section_name.starts_with(".zdebug_")
        {
            symbol_bytes += section.size();
        }
    }
    binary.stripped = !has_symtab;
    binary.dynamic = dynamic;
    binary.symbol_bytes = symbol_bytes;
    Ok(binary)
}

/// Whether `path` starts like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Whether the binary contains any of `needles` (function names such as `crypto/tls.`, which
/// stay in the pclntab of a stripped Go binary too). Streams the file.
pub fn mentions(path: &Path, needles: &[&str]) -> Result<bool, Error> {
    let name = path.display().to_string();
    let mut file = File::open(path).map_err(|e| Error::Io(name.clone(), e))?;
    let longest = needles.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut window = vec![];
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::Io(name.clone(), e))?;
        if n == 0 {
            return Ok(false);
        }
        window.extend_from_slice(&buf[..n]);
        if needles
            .iter()
            .any(|needle| window.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            return Ok(true);
        }
        let keep = window.len().saturating_sub(longest);
        window.drain(..keep);
    }
}

/// The Go version and module text, from `.go.buildinfo` or, without section headers, from the
/// first writable segment that holds the magic at a 16-byte boundary.
fn buildinfo<'data, R: object::ReadRef<'data>>(
    elf: &object::File<'data, R>,
) -> Option<(String, String)> {
    if let Some(section) = elf.section_by_name(".go.buildinfo") {
        return decode(elf, section.data().ok()?);
    }
    for segment in elf.segments() {
        let data = segment.data().ok()?;
        let mut offset = 0;
        while offset + 32 <= data.len() {
            if &data[offset..offset + 14] == MAGIC {
                return decode(elf, &data[offset..]);
            }
            offset += 16;
        }
    }
    None
}

fn decode<'data, R: object::ReadRef<'data>>(
    elf: &object::File<'data, R>,
    data: &[u8],
) -> Option<(String, String)> {
    if data.len() < 32 || &data[..14] != MAGIC {
        return None;
    }
    let ptr_size = data[14] as usize;
    let flags = data[15];
    let big_endian = flags & 1 != 0;
    let (version, modinfo) = if flags & 2 != 0 {
        let (version, rest) = varint_string(&data[32..])?;
        let (modinfo, _) = varint_string(rest)?;
        (version, modinfo)
    } else {
        let read_ptr = |bytes: &[u8]| -> Option<u64> {
            let bytes = bytes.get(..ptr_size)?;
            Some(match (ptr_size, big_endian) {
                (4, false) => u32::from_le_bytes(bytes.try_into().ok()?) as u64,
                (4, true) => u32::from_be_bytes(bytes.try_into().ok()?) as u64,
                (8, false) => u64::from_le_bytes(bytes.try_into().ok()?),
                (8, true) => u64::from_be_bytes(bytes.try_into().ok()?),
                _ => return None,
            })
        };
        let at = |address: u64, size: u64| -> Option<Vec<u8>> {
            elf.sections().find_map(|section| {
                section
                    .data_range(address, size)
                    .ok()
                    .flatten()
                    .map(<[u8]>::to_vec)
            })
        };
        let string_at = |address: u64| -> Option<Vec<u8>> {
            let header = at(address, 2 * ptr_size as u64)?;
            let pointer = read_ptr(&header)?;
            let len = read_ptr(&header[ptr_size..])?;
            at(pointer, len)
        };
        let version = string_at(read_ptr(&data[16..])?)?;
        let modinfo = string_at(read_ptr(&data[16 + ptr_size..])?)?;
        (version, modinfo)
    };
    let mut modinfo = modinfo.as_slice();
    // Module information is framed by 16-byte sentinels.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    }
    Some((
        String::from_utf8_lossy(&version).into_owned(),
        String::from_utf8_lossy(modinfo).into_owned(),
    ))
}

fn varint_string(data: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut len: u64 = 0;
    let mut shift = 0;
    for (i, byte) in data.iter().enumerate() {
        len |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            return Some((data.get(start..end)?.to_vec(), &data[end..]));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    None
}

/// Parses module information text (`runtime/debug.ParseBuildInfo`'s format, without the `go`
/// line, which the binary keeps apart).
pub fn parse_modinfo(text: &str) -> Option<GoBinary> {
    let mut binary = GoBinary {
        go_version: String::new(),
        path: String::new(),
        main: None,
        deps: vec![],
        settings: vec![],
        arch: String::new(),
        stripped: false,
        dynamic: false,
        symbol_bytes: 0,
    };
    let module = |fields: &[&str]| Module {
        path: fields.first().copied().unwrap_or_default().to_owned(),
        version: fields.get(1).copied().unwrap_or_default().to_owned(),
        sum: fields.get(2).copied().unwrap_or_default().to_owned(),
        replacement: None,
    };
    for line in text.lines() {
        let (kind, rest) = line.split_once('\t').unwrap_or((line, ""));
        let fields: Vec<&str> = rest.split('\t').collect();
        match kind {
            "path" => binary.path = rest.to_owned(),
            "mod" => binary.main = Some(module(&fields)),
            "dep" => binary.deps.push(module(&fields)),
            "=>" => {
                let replaced = match binary.deps.last_mut() {
                    Some(dep) => dep,
                    None => binary.main.as_mut()?,
                };
                replaced.replacement = Some(Box::new(module(&fields)));
            }
            "build" => {
                let (key, value) = rest.split_once('=')?;
                binary.settings.push((unquote(key), unquote(value)));
            }
            _ => {}
        }
    }
    Some(binary)
}

/// Undoes Go's `strconv.Quote` on build settings with spaces or quotes in them.
fn unquote(text: &str) -> String {
    let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Go's name for an ELF machine.
fn goarch(architecture: object::Architecture, little_endian: bool) -> &'static str {
    use object::Architecture as A;
    match architecture {
        A::X86_64 => "amd64",
        A::Aarch64 => "arm64",
        A::Arm => "arm",
        A::I386 => "386",
        A::PowerPc64 if little_endian => "ppc64le",
        A::PowerPc64 => "ppc64",
        A::S390x => "s390x",
        A::Riscv64 => "riscv64",
        A::Mips64 if little_endian => "mips64le",
        A::Mips64 => "mips64",
        A::Mips if little_endian => "mipsle",
        A::Mips => "mips",
        A::LoongArch64 => "loong64",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lines_settings_and_replacements_parse() {
        let text = "path\texample.com/svc/cmd/api\n\
            mod\texample.com/svc\t(devel)\t\n\
            dep\tgolang.org/x/text\tv0.14.0\th1:abc=\n\
            dep\texample.com/lib\tv1.0.0\t\n\
            =>\t../lib\t(devel)\t\n\
            build\t-compiler=gc\n\
            build\t-ldflags=\"-s -w -buildid=\"\n\
            build\tCGO_ENABLED=0\n";
        let binary = parse_modinfo(text).unwrap();
        assert_eq!(binary.path, "example.com/svc/cmd/api");
        assert_eq!(binary.main.as_ref().unwrap().version, "(devel)");
        assert_eq!(binary.deps[0].sum, "h1:abc=");
        assert_eq!(binary.deps[1].replacement.as_ref().unwrap().path, "../lib");
        assert_eq!(binary.setting("-ldflags"), Some("-s -w -buildid="));
        assert_eq!(binary.setting("CGO_ENABLED"), Some("0"));
    }

    #[test]
    fn inline_strings_are_varint_prefixed() {
        let (text, rest) = varint_string(b"\x05go1.x\x02ab").unwrap();
        assert_eq!(text, b"go1.x");
        assert_eq!(varint_string(rest).unwrap().0, b"ab");
        assert!(varint_string(b"\x09short").is_none());
    }
}
