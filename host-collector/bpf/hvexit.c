/*
 * Names of kvm_exit reasons, as the kernel's own kvm_exit event prints them
 * (VMX basic exit reasons, SVM exit codes; from the event's print format).
 * isa 1 = VMX, 2 = SVM: the kvm_exit event's `isa` field; 3 = KVM_EXIT_* of a
 * return to userspace; 4 = an emulated instruction (enum hv_exit_isa).
 */
#include <stddef.h>

#include "hvuser.h"

struct exit_name {
    unsigned reason;
    const char *name;
};

static const struct exit_name vmx[] = {
    {0x0, "EXCEPTION_NMI"}, {0x1, "EXTERNAL_INTERRUPT"}, {0x2, "TRIPLE_FAULT"},
    {0x3, "INIT_SIGNAL"}, {0x4, "SIPI_SIGNAL"}, {0x7, "INTERRUPT_WINDOW"}, {0x8, "NMI_WINDOW"},
    {0x9, "TASK_SWITCH"}, {0xa, "CPUID"}, {0xc, "HLT"}, {0xd, "INVD"}, {0xe, "INVLPG"},
    {0xf, "RDPMC"}, {0x10, "RDTSC"}, {0x12, "VMCALL"}, {0x13, "VMCLEAR"}, {0x14, "VMLAUNCH"},
    {0x15, "VMPTRLD"}, {0x16, "VMPTRST"}, {0x17, "VMREAD"}, {0x18, "VMRESUME"},
    {0x19, "VMWRITE"}, {0x1a, "VMOFF"}, {0x1b, "VMON"}, {0x1c, "CR_ACCESS"},
    {0x1d, "DR_ACCESS"}, {0x1e, "IO_INSTRUCTION"}, {0x1f, "MSR_READ"}, {0x20, "MSR_WRITE"},
    {0x21, "INVALID_STATE"}, {0x22, "MSR_LOAD_FAIL"}, {0x24, "MWAIT_INSTRUCTION"},
    {0x25, "MONITOR_TRAP_FLAG"}, {0x27, "MONITOR_INSTRUCTION"}, {0x28, "PAUSE_INSTRUCTION"},
    {0x29, "MCE_DURING_VMENTRY"}, {0x2b, "TPR_BELOW_THRESHOLD"}, {0x2c, "APIC_ACCESS"},
    {0x2d, "EOI_INDUCED"}, {0x2e, "GDTR_IDTR"}, {0x2f, "LDTR_TR"}, {0x30, "EPT_VIOLATION"},
    {0x31, "EPT_MISCONFIG"}, {0x32, "INVEPT"}, {0x33, "RDTSCP"}, {0x34, "PREEMPTION_TIMER"},
    {0x35, "INVVPID"}, {0x36, "WBINVD"}, {0x37, "XSETBV"}, {0x38, "APIC_WRITE"},
    {0x39, "RDRAND"}, {0x3a, "INVPCID"}, {0x3b, "VMFUNC"}, {0x3c, "ENCLS"}, {0x3d, "RDSEED"},
    {0x3e, "PML_FULL"}, {0x3f, "XSAVES"}, {0x40, "XRSTORS"}, {0x43, "UMWAIT"},
    {0x44, "TPAUSE"}, {0x4a, "BUS_LOCK"}, {0x4b, "NOTIFY"}, {0x4d, "TDCALL"},
    {0x54, "MSR_READ_IMM"}, {0x55, "MSR_WRITE_IMM"},
};

static const struct exit_name svm[] = {
    {0x0, "read_cr0"}, {0x2, "read_cr2"}, {0x3, "read_cr3"}, {0x4, "read_cr4"},
    {0x8, "read_cr8"}, {0x10, "write_cr0"}, {0x12, "write_cr2"}, {0x13, "write_cr3"},
    {0x14, "write_cr4"}, {0x18, "write_cr8"}, {0x20, "read_dr0"}, {0x21, "read_dr1"},
    {0x22, "read_dr2"}, {0x23, "read_dr3"}, {0x24, "read_dr4"}, {0x25, "read_dr5"},
    {0x26, "read_dr6"}, {0x27, "read_dr7"}, {0x30, "write_dr0"}, {0x31, "write_dr1"},
    {0x32, "write_dr2"}, {0x33, "write_dr3"}, {0x34, "write_dr4"}, {0x35, "write_dr5"},
    {0x36, "write_dr6"}, {0x37, "write_dr7"}, {0x40, "DE excp"}, {0x41, "DB excp"},
    {0x43, "BP excp"}, {0x44, "OF excp"}, {0x45, "BR excp"}, {0x46, "UD excp"},
    {0x47, "NM excp"}, {0x48, "DF excp"}, {0x4a, "TS excp"}, {0x4b, "NP excp"},
    {0x4c, "SS excp"}, {0x4d, "GP excp"}, {0x4e, "PF excp"}, {0x50, "MF excp"},
    {0x51, "AC excp"}, {0x52, "MC excp"}, {0x53, "XF excp"}, {0x60, "interrupt"},
    {0x61, "nmi"}, {0x62, "smi"}, {0x63, "init"}, {0x64, "vintr"}, {0x65, "cr0_sel_write"},
    {0x66, "read_idtr"}, {0x67, "read_gdtr"}, {0x68, "read_ldtr"}, {0x69, "read_rt"},
    {0x70, "pushf"}, {0x71, "popf"}, {0x72, "cpuid"}, {0x73, "rsm"}, {0x74, "iret"},
    {0x75, "swint"}, {0x76, "invd"}, {0x77, "pause"}, {0x78, "hlt"}, {0x79, "invlpg"},
    {0x80, "vmrun"}, {0x81, "hypercall"}, {0x82, "vmload"}, {0x83, "vmsave"}, {0x84, "stgi"},
    {0x85, "clgi"}, {0x86, "skinit"}, {0x87, "rdtscp"}, {0x88, "icebp"}, {0x89, "wbinvd"},
    {0x90, "write_cr0_trap"}, {0x94, "write_cr4_trap"}, {0x98, "write_cr8_trap"},
    {0x400, "npf"}, {0x401, "avic_incomplete_ipi"}, {0x402, "avic_unaccelerated_access"},
    {0x403, "vmgexit"}, {0x80000001, "vmgexit_mmio_read"}, {0x80000002, "vmgexit_mmio_write"},
    {0x80000003, "vmgexit_nmi_complete"}, {0x80000004, "vmgexit_ap_hlt_loop"},
    {0x80000005, "vmgexit_ap_jump_table"}, {0x80000010, "vmgexit_page_state_change"},
    {0x80000011, "vmgexit_guest_request"}, {0x80000012, "vmgexit_ext_guest_request"},
    {0x80000013, "vmgexit_ap_creation"}, {0x80000000, "FAILED_VMENTRY"},
};

/* KVM_EXIT_* of <linux/kvm.h> (the reason of kvm_userspace_exit). */
static const struct exit_name user[] = {
    {0, "UNKNOWN"}, {1, "EXCEPTION"}, {2, "IO"}, {3, "HYPERCALL"}, {4, "DEBUG"}, {5, "HLT"},
    {6, "MMIO"}, {7, "IRQ_WINDOW_OPEN"}, {8, "SHUTDOWN"}, {9, "FAIL_ENTRY"}, {10, "INTR"},
    {11, "SET_TPR"}, {12, "TPR_ACCESS"}, {17, "INTERNAL_ERROR"}, {24, "SYSTEM_EVENT"},
    {29, "X86_RDMSR"}, {30, "X86_WRMSR"}, {31, "DIRTY_RING_FULL"}, {35, "NOTIFY"},
};

const char *hv_exit_name(unsigned isa, unsigned reason)
{
    if (isa == HV_ISA_USER) {
        for (size_t i = 0; i < sizeof(user) / sizeof(user[0]); i++)
            if (user[i].reason == reason)
                return user[i].name;
        return NULL;
    }
    if (isa == HV_ISA_EMUL)
        return reason ? "failed" : "ok";

    const struct exit_name *t = isa == 2 ? svm : vmx;
    size_t n = isa == 2 ? sizeof(svm) / sizeof(svm[0]) : sizeof(vmx) / sizeof(vmx[0]);

    if (isa == 1)
        reason &= 0xffff; /* the high bits are flags (FAILED_VMENTRY) */
    else if (isa != 2)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (t[i].reason == reason)
            return t[i].name;
    return NULL;
}
