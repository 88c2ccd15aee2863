/* The page injected into a traced x86_64 program (see ../stub.rs): the fake-clock
 * data, then replacements for the vDSO's clock_gettime, gettimeofday and time.
 * Position-independent; the data is filled in by the supervisor before the page
 * is used. Regenerate the bytes in stub.rs with `cargo test -p flakebox-clockwatch
 * stub -- --nocapture` (the test prints them when they differ). */
	.intel_syntax noprefix
	.text
orig_cgt:	/* the vDSO's own __vdso_clock_gettime */
	.quad 0
entries:	/* 4 x { u32 kind (0 frozen, 1 offset, 2 syscall), u32 base clock, i64 sec, i64 nsec } */
	.fill 4 * 24, 1, 0
idx:		/* clock id (0..15) -> entry, 0xff: not faked */
	.fill 16, 1, 0xff
	.balign 64

/* int clock_gettime(clockid_t clk, struct timespec *ts) */
cgt:
	cmp edi, 15
	ja .Lorig
	mov eax, edi
	lea rcx, [rip + idx]
	movzx eax, byte ptr [rcx + rax]
	cmp eax, 0xff
	je .Lorig
	imul eax, eax, 24
	lea rcx, [rip + entries]
	add rcx, rax
	mov eax, dword ptr [rcx]
	test eax, eax
	jz .Lfrozen
	cmp eax, 1
	je .Loffset
	/* The real system call: the seccomp filter sends it to the supervisor. */
	mov eax, 228
	syscall
	ret
.Lfrozen:
	mov rax, [rcx + 8]
	mov [rsi], rax
	mov rax, [rcx + 16]
	mov [rsi + 8], rax
	xor eax, eax
	ret
.Loffset:
	push rbx
	push r12
	sub rsp, 8
	mov rbx, rsi
	mov r12, rcx
	mov edi, dword ptr [rcx + 4]
	call qword ptr [rip + orig_cgt]
	test eax, eax
	jnz .Loff_out
	mov rdx, [rbx]
	add rdx, [r12 + 8]
	mov rcx, [rbx + 8]
	add rcx, [r12 + 16]
	cmp rcx, 1000000000
	jl .Lnorm
	sub rcx, 1000000000
	inc rdx
.Lnorm:
	mov [rbx], rdx
	mov [rbx + 8], rcx
.Loff_out:
	add rsp, 8
	pop r12
	pop rbx
	ret
.Lorig:
	jmp qword ptr [rip + orig_cgt]

/* int gettimeofday(struct timeval *tv, struct timezone *tz) */
	.balign 16
gtod:
	push rbx
	push r12
	sub rsp, 24
	mov rbx, rdi
	mov r12, rsi
	test rbx, rbx
	jz .Ltz
	xor edi, edi
	mov rsi, rsp
	call cgt
	test eax, eax
	jnz .Lgtod_out
	mov rax, [rsp]
	mov [rbx], rax
	mov rax, [rsp + 8]
	xor edx, edx
	mov ecx, 1000
	div rcx
	mov [rbx + 8], rax
.Ltz:
	/* The sandbox's kernel zone is UTC, as the supervisor answers. */
	test r12, r12
	jz .Lgtod_ok
	mov qword ptr [r12], 0
.Lgtod_ok:
	xor eax, eax
.Lgtod_out:
	add rsp, 24
	pop r12
	pop rbx
	ret

/* time_t time(time_t *t) */
	.balign 16
time:
	push rbx
	sub rsp, 16
	mov rbx, rdi
	mov edi, 5
	mov rsi, rsp
	call cgt
	movsxd rdx, eax
	test eax, eax
	jnz .Ltime_out
	mov rdx, [rsp]
	test rbx, rbx
	jz .Ltime_out
	mov [rbx], rdx
.Ltime_out:
	mov rax, rdx
	add rsp, 16
	pop rbx
	ret
