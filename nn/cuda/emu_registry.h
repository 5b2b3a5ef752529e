// emu_registry.h: turns kernel functions into launchable table entries for the emulator.
#pragma once
#include <cstddef>
#include <type_traits>
#include <utility>

namespace tjemu {

struct Entry {
	const char *name;
	Invoke invoke;
	bool nosync;
};

template <class F>
struct Caller;

// Each kernel argument arrives as a pointer to an 8-byte slot holding the value in its low
// bytes (the cuLaunchKernel convention the Go side follows for both backends).
template <class... A>
struct Caller<void (*)(A...)> {
	template <auto F, size_t... I>
	static void call(void **args, std::index_sequence<I...>) {
		F(*(std::remove_cv_t<A> *)args[I]...);
	}
	template <auto F>
	static void run(void **args) {
		call<F>(args, std::index_sequence_for<A...>{});
	}
};

} // namespace tjemu

#define TJ_ENTRY(ns, name, nosync) {#name, &tjemu::Caller<decltype(&ns::name)>::template run<&ns::name>, nosync != 0}
