//! A virtual machine built by hand on `/dev/kvm`: our own tiny VMM.
//!
//! KVM turns the Linux kernel into a hypervisor, but it only runs a virtual
//! CPU: everything else is the job of a user-space program, the VMM (virtual
//! machine monitor; QEMU, Firecracker and cloud-hypervisor are big ones). The
//! VMM opens `/dev/kvm`, creates a VM, hands it memory from its own address
//! space (`KVM_SET_USER_MEMORY_REGION`), loads a program into that memory,
//! creates a vCPU, sets its registers and calls `KVM_RUN` in a loop. Each
//! time the guest touches something that is not plain RAM (an I/O port, an
//! address with no memory behind it, a `hlt`), `KVM_RUN` returns with an
//! *exit* that the VMM must handle, like a device would.
//!
//! The man page is the kernel's KVM API document,
//! `Documentation/virt/kvm/api.rst` (<https://docs.kernel.org/virt/kvm/api.html>);
//! the ioctls are wrapped by the `kvm-ioctls` crate.

use std::ffi::c_void;
use std::fs::OpenOptions;
use std::io::Write;
use std::num::NonZeroUsize;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::Path;
use std::ptr::NonNull;

use anyhow::{Context, Result, anyhow, bail};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

use crate::report::{self, Table};

/// The KVM device every Linux host with KVM has.
pub const DEFAULT_DEVICE: &str = "/dev/kvm";

/// The only KVM API version there has ever been (since Linux 2.6.22).
pub const KVM_API_VERSION: i32 = 12;

// ANCHOR: guest
/// How much RAM the guest gets: 64 KiB, guest physical 0x0 to 0xffff.
pub const GUEST_MEM_SIZE: u64 = 0x1_0000;
/// Where the VMM loads [`GUEST_CODE`] (a guest physical address).
pub const CODE_ADDR: u64 = 0x1000;
/// Where the VMM puts the greeting the guest prints (0-terminated).
pub const GREETING_ADDR: u64 = 0x1100;
/// What the guest prints, one `out` per byte.
pub const GREETING: &[u8] = b"Hello from the guest!\n";
/// Where the guest writes [`MARKER`] into its own RAM.
pub const MARKER_ADDR: u64 = 0x2000;
/// The 16-bit marker the guest writes; the VMM reads it back.
pub const MARKER: u16 = 0xbeef;
/// Where the guest stores the byte it read from past the end of its RAM.
pub const ANSWER_ADDR: u64 = 0x2002;
/// The address the guest probes: the first byte after its RAM.
pub const BEYOND_RAM: u64 = GUEST_MEM_SIZE;
/// What our VMM answers for a read where there is no RAM (an empty bus reads 0xff).
pub const NO_RAM_ANSWER: u8 = 0xff;
/// The first serial port (COM1): the data register at I/O port 0x3f8.
pub const SERIAL_PORT: u16 = 0x3f8;

/// The guest: 16-bit real-mode x86 machine code, the way a PC starts. No
/// operating system, no BIOS: just these 36 bytes, run by the real CPU.
#[rustfmt::skip]
pub const GUEST_CODE: [u8; 36] = [
    0xba, 0xf8, 0x03,             //       mov  dx, 0x3f8     ; COM1's data port
    0xbe, 0x00, 0x11,             //       mov  si, 0x1100    ; the greeting
    0xac,                         // next: lodsb              ; al = [ds:si], si += 1
    0x84, 0xc0,                   //       test al, al        ; the 0 at the end?
    0x74, 0x03,                   //       jz   done
    0xee,                         //       out  dx, al        ; -> KVM_EXIT_IO
    0xeb, 0xf8,                   //       jmp  next
    0xc7, 0x06, 0x00, 0x20,       // done: mov  word [0x2000], 0xbeef
    0xef, 0xbe,                   //                          ; a marker in our own RAM
    0xb8, 0x00, 0x10,             //       mov  ax, 0x1000
    0x8e, 0xd8,                   //       mov  ds, ax        ; ds:0 is physical 0x10000
    0xa0, 0x00, 0x00,             //       mov  al, [0]       ; past our RAM -> KVM_EXIT_MMIO
    0x31, 0xdb,                   //       xor  bx, bx
    0x8e, 0xdb,                   //       mov  ds, bx        ; back to segment 0
    0xa2, 0x02, 0x20,             //       mov  [0x2002], al  ; keep what we were given
    0xf4,                         //       hlt                ; -> KVM_EXIT_HLT
];
// ANCHOR_END: guest

/// One thing the VMM did: the system call (mostly an ioctl) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The call, e.g. `KVM_CREATE_VM`.
    pub call: &'static str,
    /// What it did, in words.
    pub what: String,
}

/// Open the KVM device and check that it speaks the KVM API. Errors are one
/// line that says what is missing and how to fix it.
pub fn open_device(device: &Path) -> Result<Kvm> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(|e| anyhow!(explain_open_error(device, &e)))?;
    // SAFETY: `into_raw_fd` hands us sole ownership of an open file
    // descriptor, which `Kvm` now owns and closes on drop. If the file is
    // not a KVM device, its ioctls fail with ENOTTY; nothing unsafe happens.
    let kvm = unsafe { Kvm::from_raw_fd(file.into_raw_fd()) };
    match kvm.get_api_version() {
        KVM_API_VERSION => Ok(kvm),
        v if v < 0 => bail!(
            "{} is not a KVM device (the KVM_GET_API_VERSION ioctl failed); point --kvm-device at {DEFAULT_DEVICE}",
            device.display()
        ),
        v => bail!(
            "{} speaks KVM API version {v}, this VMM needs {KVM_API_VERSION}",
            device.display()
        ),
    }
}

/// The one-line explanation for a failed `open(2)` of the KVM device.
pub fn explain_open_error(device: &Path, err: &std::io::Error) -> String {
    let path = device.display();
    match err.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no KVM device at {path}: load the kvm module (sudo modprobe kvm_intel, or kvm_amd) and \
             enable virtualisation (VT-x/AMD-V) in the firmware, or use a VM with nested virtualisation"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "no permission to open {path}: add yourself to the kvm group \
             (sudo usermod -aG kvm $USER, then log in again) or run as root"
        ),
        _ => format!("open {path}: {err}; the KVM device is {DEFAULT_DEVICE}"),
    }
}

/// The guest's RAM: an anonymous mapping in *our* process. KVM maps it into
/// the guest's physical address space; no copy is made.
struct GuestMemory {
    ptr: NonNull<c_void>,
    len: usize,
}

impl GuestMemory {
    /// `mmap(2)` `len` bytes of zeroed, private, anonymous memory.
    fn new(len: u64) -> Result<GuestMemory> {
        let size = usize::try_from(len)
            .ok()
            .and_then(NonZeroUsize::new)
            .context("guest memory size must fit in usize and not be 0")?;
        // SAFETY: a fresh anonymous mapping (addr = None) cannot alias any
        // memory we already use; we own it until `Drop` unmaps it.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
            )
        }
        .with_context(|| format!("mmap {} of guest memory", report::bytes(len)))?;
        Ok(GuestMemory {
            ptr,
            len: size.get(),
        })
    }

    /// Where the guest's physical address 0 lives in our address space.
    fn host_address(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes owned by
        // `self`. The guest may write to it while its vCPU runs, but a vCPU
        // only runs inside `KVM_RUN`, which needs `&mut Machine`, so it is not
        // running while this shared borrow exists.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only
        // borrow of the mapping on our side.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }

    /// Copy `bytes` to guest physical address `addr`.
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<()> {
        let start = usize::try_from(addr)?;
        let end = start + bytes.len();
        let len = self.len;
        self.as_mut_slice()
            .get_mut(start..end)
            .with_context(|| {
                format!("guest range {start:#x}..{end:#x} is outside its {len:#x} bytes of RAM")
            })?
            .copy_from_slice(bytes);
        Ok(())
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`, and the
        // `Machine` drops its VM before its memory, so KVM no longer uses it.
        if let Err(e) = unsafe { munmap(self.ptr, self.len) } {
            eprintln!("warning: munmap guest memory: {e}");
        }
    }
}

/// A virtual machine with one vCPU, its RAM loaded with [`GUEST_CODE`],
/// ready to run.
pub struct Machine {
    // Field order is drop order: the vCPU and the VM go before the memory
    // they use.
    vcpu: VcpuFd,
    _vm: VmFd,
    _kvm: Kvm,
    memory: GuestMemory,
    /// What the VMM did to build this machine, in order.
    pub steps: Vec<Step>,
}

/// When [`Machine::run`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// At the guest's `hlt`: the whole program ran.
    Halt,
    /// At the first byte the guest writes to the serial port.
    FirstOutput,
}

/// One row of the exit table: a kind of exit, where, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitCount {
    /// The kind of exit, as KVM names it (e.g. `KVM_EXIT_IO (out)`).
    pub kind: &'static str,
    /// Where: a port or an address.
    pub place: String,
    /// How many times.
    pub count: usize,
    /// What the VMM did about it.
    pub handled: &'static str,
}

/// Everything the VMM saw while the guest ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exits {
    /// The exits handled, grouped by kind and place, in order of first appearance.
    pub table: Vec<ExitCount>,
    /// The bytes the guest wrote to the serial port.
    pub serial: Vec<u8>,
    /// The guest physical addresses the guest read where there is no RAM.
    pub mmio_reads: Vec<u64>,
}

impl Exits {
    fn record(&mut self, kind: &'static str, place: String, handled: &'static str) {
        match self
            .table
            .iter_mut()
            .find(|row| row.kind == kind && row.place == place)
        {
            Some(row) => row.count += 1,
            None => self.table.push(ExitCount {
                kind,
                place,
                count: 1,
                handled,
            }),
        }
    }

    /// How many exits the VMM handled in all.
    pub fn total(&self) -> usize {
        self.table.iter().map(|row| row.count).sum()
    }
}

/// Give up on a guest that exits this often without halting.
const MAX_EXITS: usize = 10_000;

impl Machine {
    // ANCHOR: vmm_setup
    /// Build the machine on the KVM device `device`, recording every step.
    pub fn create(device: &Path) -> Result<Machine> {
        let mut steps = Vec::new();
        let mut step = |call, what: String| steps.push(Step { call, what });

        // 1. The KVM device is the hypervisor's front door.
        let kvm = open_device(device)?;
        step(
            "open",
            format!("open {}, the kernel's hypervisor", device.display()),
        );
        step(
            "KVM_GET_API_VERSION",
            format!("check that it speaks KVM API {KVM_API_VERSION}"),
        );

        // 2. A VM is a file descriptor: an empty machine, no RAM, no CPU.
        let vm = kvm
            .create_vm()
            .with_context(|| format!("KVM_CREATE_VM on {}", device.display()))?;
        step(
            "KVM_CREATE_VM",
            "an empty machine: no memory, no CPU".into(),
        );

        // 3. Guest RAM is ordinary memory of this process...
        let mut memory = GuestMemory::new(GUEST_MEM_SIZE)?;
        step(
            "mmap",
            format!(
                "{} of our own memory, to be the guest's RAM",
                report::bytes(GUEST_MEM_SIZE)
            ),
        );

        // 4. ...that KVM maps at a guest physical address. This slot is the
        //    only memory the guest will ever be able to address.
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: GUEST_MEM_SIZE,
            userspace_addr: memory.host_address() as u64,
        };
        // SAFETY: `userspace_addr` points to `memory_size` bytes we mapped
        // above; `memory` lives in the `Machine` and is dropped after the VM
        // (field order), so the mapping outlives the guest. (On an early
        // return below it is unmapped just before the VM closes; the guest
        // never runs, and KVM follows changes to the mapping itself.) Slot 0
        // is the only slot, so it overlaps nothing.
        unsafe { vm.set_user_memory_region(region) }.with_context(|| {
            format!("KVM_SET_USER_MEMORY_REGION slot 0 on {}", device.display())
        })?;
        step(
            "KVM_SET_USER_MEMORY_REGION",
            format!(
                "slot 0: guest physical 0x0-{:#x} is that memory",
                GUEST_MEM_SIZE - 1
            ),
        );

        // 5. Load the program: the VMM writes straight into guest RAM.
        memory.write(CODE_ADDR, &GUEST_CODE)?;
        memory.write(GREETING_ADDR, GREETING)?;
        memory.write(GREETING_ADDR + GREETING.len() as u64, &[0])?;
        step(
            "memcpy",
            format!(
                "load the guest: {} bytes of code at {CODE_ADDR:#x}, the greeting at {GREETING_ADDR:#x}",
                GUEST_CODE.len()
            ),
        );

        // 6. A vCPU is another file descriptor, plus a shared `kvm_run`
        //    page where KVM tells us why the guest stopped.
        let vcpu = vm
            .create_vcpu(0)
            .with_context(|| format!("KVM_CREATE_VCPU 0 on {}", device.display()))?;
        step(
            "KVM_CREATE_VCPU",
            "vCPU 0, and mmap its kvm_run page".into(),
        );

        // 7. A fresh vCPU is an x86 right after power-on: 16-bit real mode,
        //    about to run the BIOS at 0xffff0. There is no BIOS: point the
        //    segments at 0 and the instruction pointer at our code.
        let mut sregs = vcpu.get_sregs().context("KVM_GET_SREGS")?;
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        sregs.ds.base = 0;
        sregs.ds.selector = 0;
        vcpu.set_sregs(&sregs).context("KVM_SET_SREGS")?;
        step(
            "KVM_SET_SREGS",
            "real mode, code and data segments at 0".into(),
        );

        let mut regs = vcpu.get_regs().context("KVM_GET_REGS")?;
        regs.rip = CODE_ADDR;
        regs.rflags = 0x2; // bit 1 is reserved and must be set; interrupts off
        vcpu.set_regs(&regs).context("KVM_SET_REGS")?;
        step(
            "KVM_SET_REGS",
            format!("rip = {CODE_ADDR:#x}, rflags = 0x2 (interrupts off)"),
        );

        Ok(Machine {
            vcpu,
            _vm: vm,
            _kvm: kvm,
            memory,
            steps,
        })
    }
    // ANCHOR_END: vmm_setup

    // ANCHOR: run_loop
    /// Run the vCPU, handling its exits, until `until`.
    pub fn run(&mut self, until: Until) -> Result<Exits> {
        // ANCHOR: lab-01-kvm-run
        let mut exits = Exits::default();
        while exits.total() < MAX_EXITS {
            // KVM_RUN runs guest code on the real CPU until the guest does
            // something only a device (that is, we) can answer.
            let exit = match self.vcpu.run() {
                Ok(exit) => exit,
                // A signal interrupted the run: just enter the guest again.
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
                Err(e) => return Err(anyhow!(e).context("KVM_RUN")),
            };
            match exit {
                VcpuExit::IoOut(SERIAL_PORT, data) => {
                    exits.serial.extend_from_slice(data);
                    exits.record(
                        "KVM_EXIT_IO (out)",
                        format!("port {SERIAL_PORT:#x}"),
                        "serial: keep the byte",
                    );
                    if until == Until::FirstOutput {
                        return Ok(exits);
                    }
                }
                VcpuExit::MmioRead(addr, data) => {
                    // No RAM at `addr`: KVM cannot complete the read and asks
                    // us what the guest should see there.
                    data.fill(NO_RAM_ANSWER);
                    exits.mmio_reads.push(addr);
                    exits.record(
                        "KVM_EXIT_MMIO (read)",
                        format!("{addr:#x}"),
                        "no RAM there: answer 0xff",
                    );
                }
                VcpuExit::Hlt => {
                    exits.record("KVM_EXIT_HLT", "-".into(), "the guest is done: stop");
                    return Ok(exits);
                }
                VcpuExit::Intr => continue,
                VcpuExit::IoOut(port, _) => {
                    bail!(
                        "KVM_RUN: the guest wrote to I/O port {port:#x}, where this VMM has no device"
                    )
                }
                VcpuExit::IoIn(port, _) => {
                    bail!(
                        "KVM_RUN: the guest read I/O port {port:#x}, where this VMM has no device"
                    )
                }
                VcpuExit::MmioWrite(addr, _) => {
                    bail!("KVM_RUN: the guest wrote to {addr:#x}, where it has no RAM")
                }
                VcpuExit::Shutdown => {
                    bail!("KVM_RUN: the guest shut down (a triple fault: its code is broken)")
                }
                VcpuExit::FailEntry(reason, cpu) => bail!(
                    "KVM_RUN: the CPU refused to enter the guest (hardware reason {reason:#x}, cpu {cpu})"
                ),
                other => bail!("KVM_RUN: unexpected exit {other:?}"),
            }
        }
        bail!("KVM_RUN: the guest exited {MAX_EXITS} times without halting")
        // ANCHOR_END: lab-01-kvm-run
    }
    // ANCHOR_END: run_loop

    /// The guest's RAM, seen from the host: our mapping.
    pub fn guest_memory(&self) -> &[u8] {
        self.memory.as_slice()
    }

    /// The host (virtual) address of guest physical address 0.
    pub fn host_address(&self) -> usize {
        self.memory.host_address()
    }

    /// Read a little-endian 16-bit value at guest physical `addr`, from the host side.
    pub fn read_u16(&self, addr: u64) -> Result<u16> {
        let start = usize::try_from(addr)?;
        let bytes = self
            .guest_memory()
            .get(start..start + 2)
            .with_context(|| format!("guest address {addr:#x} is outside its RAM"))?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    /// Read the byte at guest physical `addr`, from the host side.
    pub fn read_u8(&self, addr: u64) -> Result<u8> {
        let start = usize::try_from(addr)?;
        self.guest_memory()
            .get(start)
            .copied()
            .with_context(|| format!("guest address {addr:#x} is outside its RAM"))
    }
}

/// What one run of the guest showed: the VMM's steps, the exits, and the
/// memory evidence read back from the host side.
#[derive(Debug, Clone)]
pub struct Run {
    /// The VMM's steps, including the final `KVM_RUN`.
    pub steps: Vec<Step>,
    /// The exits handled.
    pub exits: Exits,
    /// The 16-bit value at [`MARKER_ADDR`], read through our mapping after the run.
    pub marker: u16,
    /// The byte at [`ANSWER_ADDR`]: what the guest got when it read past its RAM.
    pub answer: u8,
    /// Host address of guest physical 0.
    pub host_address: usize,
}

/// Build the machine, run the guest to its `hlt`, and collect the evidence.
pub fn run_guest(device: &Path) -> Result<Run> {
    let mut machine = Machine::create(device)?;
    let exits = machine.run(Until::Halt)?;
    let mut steps = machine.steps.clone();
    steps.push(Step {
        call: "KVM_RUN",
        what: format!(
            "run the vCPU; it came back {} times, once per exit below",
            exits.total()
        ),
    });
    Ok(Run {
        steps,
        marker: machine.read_u16(MARKER_ADDR)?,
        answer: machine.read_u8(ANSWER_ADDR)?,
        host_address: machine.host_address(),
        exits,
    })
}

/// A host address, or `[ADDR]` when redacting (it changes every run).
fn address(a: usize) -> String {
    if report::redacting() {
        "[ADDR]".into()
    } else {
        format!("{a:#x}")
    }
}

/// The `vm` demo: build a VM, run the guest, show what the VMM did.
pub fn demo(out: &mut dyn Write, device: &Path) -> Result<()> {
    let run = run_guest(device)?;

    writeln!(
        out,
        "A virtual machine built by hand on {}: what our VMM did\n",
        device.display()
    )?;
    let mut steps = Table::new(["step", "call", "what it did"]);
    for (i, s) in run.steps.iter().enumerate() {
        steps.row([(i + 1).to_string(), s.call.to_string(), s.what.clone()]);
    }
    write!(out, "{}", steps.render())?;

    writeln!(
        out,
        "\nThe exits it handled (each one: the guest stops, the VMM acts, KVM_RUN again):\n"
    )?;
    let mut exits = Table::new(["exit", "where", "count", "what the VMM did"]);
    for e in &run.exits.table {
        exits.row([
            e.kind.to_string(),
            e.place.clone(),
            e.count.to_string(),
            e.handled.to_string(),
        ]);
    }
    write!(out, "{}", exits.render())?;

    let greeting = String::from_utf8_lossy(&run.exits.serial);
    writeln!(
        out,
        "\nThe guest says, through the serial port: {}",
        greeting.trim_end()
    )?;

    let host_ram = crate::probe::Probe::collect()?.mem_total_kib * 1024;
    let host_ram = if report::redacting() {
        "[HOST]".into()
    } else {
        report::bytes(host_ram)
    };
    writeln!(out, "\nThe guest sees only the memory we gave it:\n")?;
    let mut memory = Table::new(["memory", "size"]);
    memory.row([
        "the guest's RAM (memory slot 0)".to_string(),
        report::bytes(GUEST_MEM_SIZE),
    ]);
    memory.row(["the host's RAM (/proc/meminfo)".to_string(), host_ram]);
    write!(out, "{}", memory.render())?;
    writeln!(
        out,
        "\n- The guest wrote {MARKER:#x} at its physical address {MARKER_ADDR:#x}. We read {:#x} at\n  \
         host address {} (our mapping + {MARKER_ADDR:#x}): guest RAM is our memory, no copy.",
        run.marker,
        address(run.host_address + MARKER_ADDR as usize),
    )?;
    let beyond = run
        .exits
        .mmio_reads
        .first()
        .map_or("nothing".to_string(), |a| format!("{a:#x}"));
    writeln!(
        out,
        "- The guest read {BEYOND_RAM:#x}, one byte past its RAM. No slot maps it, so KVM stopped\n  \
         the guest (an MMIO exit at {beyond}) and asked us. We answered {NO_RAM_ANSWER:#x}; the\n  \
         guest stored {:#x}. The host's memory is not in the guest's address space at all:\n  \
         a guest can only reach the memory its VMM put in a memory slot.",
        run.answer,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_code_points_at_the_greeting_and_marker() {
        // `mov si, imm16` and `mov word [imm16], imm16` carry our constants.
        assert_eq!(
            u16::from_le_bytes([GUEST_CODE[4], GUEST_CODE[5]]) as u64,
            GREETING_ADDR
        );
        assert_eq!(
            u16::from_le_bytes([GUEST_CODE[16], GUEST_CODE[17]]) as u64,
            MARKER_ADDR
        );
        assert_eq!(u16::from_le_bytes([GUEST_CODE[18], GUEST_CODE[19]]), MARKER);
        assert_eq!(
            u16::from_le_bytes([GUEST_CODE[33], GUEST_CODE[34]]) as u64,
            ANSWER_ADDR
        );
        // ds = 0x1000 makes ds:0 the physical address 0x1000 * 16.
        assert_eq!(
            u16::from_le_bytes([GUEST_CODE[21], GUEST_CODE[22]]) as u64 * 16,
            BEYOND_RAM
        );
        assert!(CODE_ADDR + (GUEST_CODE.len() as u64) <= GREETING_ADDR);
        assert!(GREETING_ADDR + (GREETING.len() as u64) < MARKER_ADDR); // and its 0
    }

    #[test]
    fn open_errors_say_how_to_fix_them() {
        let dev = Path::new("/dev/kvm");
        let missing = explain_open_error(dev, &std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(missing.contains("modprobe"), "{missing}");
        let denied = explain_open_error(dev, &std::io::Error::from_raw_os_error(libc::EACCES));
        assert!(denied.contains("usermod -aG kvm"), "{denied}");
        assert!(!denied.contains('\n') && !missing.contains('\n'));
    }
}
