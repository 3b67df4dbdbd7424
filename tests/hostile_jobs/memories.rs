//! A component with several linear memories: a Rust component has one, so this one is
//! a built component with core instances of a small hand-encoded module appended. Each
//! such instance has its own memory, and its start function grows it and writes to
//! every host page of it, so the memory is resident, not only reserved.

/// Section ids of the component binary format.
const CORE_MODULE: u8 = 1;
const CORE_INSTANCE: u8 = 2;

fn leb_u32(mut n: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn leb_i32(mut n: i32, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        let done = (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

fn section(id: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb_u32(contents.len() as u32, out);
    out.extend_from_slice(contents);
}

/// A core module whose start function grows its memory to `pages` 64 KiB pages and
/// writes one byte to every 4 KiB, so all of it becomes resident.
fn memory_hog(pages: u32) -> Vec<u8> {
    let mut code = vec![0x01, 0x01, 0x7f]; // one i32 local: the address
    code.push(0x41); // i32.const pages - 1
    leb_i32(pages as i32 - 1, &mut code);
    code.extend([0x40, 0x00, 0x1a]); // memory.grow 0, drop
    code.extend([0x02, 0x40, 0x03, 0x40]); // block, loop
    code.extend([0x20, 0x00, 0x41]); // local.get 0, i32.const end
    leb_i32((pages * 65536) as i32, &mut code);
    code.extend([0x4f, 0x0d, 0x01]); // i32.ge_u, br_if 1
    code.extend([0x20, 0x00, 0x41, 0x01, 0x3a, 0x00, 0x00]); // store8 1 at local 0
    code.extend([0x20, 0x00, 0x41, 0x80, 0x20, 0x6a, 0x21, 0x00]); // += 4096
    code.extend([0x0c, 0x00, 0x0b, 0x0b, 0x0b]); // br 0, end loop, end block, end
    let mut body = Vec::new();
    leb_u32(code.len() as u32, &mut body);
    body.extend(code);

    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[0x01, 0x60, 0x00, 0x00], &mut module); // type: func() -> ()
    section(3, &[0x01, 0x00], &mut module); // one function of type 0
    section(5, &[0x01, 0x00, 0x01], &mut module); // one memory, 1 page minimum
    section(8, &[0x00], &mut module); // start: function 0
    let mut codes = vec![0x01];
    codes.extend(body);
    section(10, &codes, &mut module);
    module
}

/// The core modules defined at the top level of `component`.
fn core_modules(component: &[u8]) -> u32 {
    let mut count = 0;
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        at += 1;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let byte = component[at];
            at += 1;
            size |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        count += u32::from(id == CORE_MODULE);
        at += size;
    }
    count
}

/// `component` with `copies` more memories of `pages` pages each.
pub fn with_memories(component: &[u8], copies: u32, pages: u32) -> Vec<u8> {
    let index = core_modules(component);
    let mut out = component.to_vec();
    section(CORE_MODULE, &memory_hog(pages), &mut out);
    let mut instances = Vec::new();
    leb_u32(copies, &mut instances);
    for _ in 0..copies {
        instances.push(0x00); // instantiate
        leb_u32(index, &mut instances);
        instances.push(0x00); // no arguments
    }
    section(CORE_INSTANCE, &instances, &mut out);
    out
}
