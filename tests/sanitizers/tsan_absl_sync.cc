// TSan annotations for Debian's (uninstrumented) Abseil synchronization, linked into every
// executable of the KVSERVE_SANITIZE=thread build (see CMakeLists.txt here).
//
// Why: absl::Mutex, CondVar and Notification live in libabsl_synchronization.so, which Debian
// builds without ThreadSanitizer, so their lock/unlock (atomics and futex calls inside the library)
// are invisible to TSan: every access guarded by an absl::Mutex would be reported as a race. An
// Abseil built with TSan annotates them itself; here the executable interposes the exported
// entry points instead: each wrapper below tells TSan what the call does (__tsan_mutex_* for lock
// and unlock, __tsan_release/__tsan_acquire for Notification) and calls the real function, found
// with dlsym(RTLD_NEXT). libgrpc and libabsl call these functions through the PLT, so gRPC's own
// locks are annotated too.
//
// What this can and cannot hide: a wrapper only adds the happens-before edges the real function
// provides (unlock → later lock of the same mutex, Notify → a wait that saw it). Between
// __tsan_mutex_pre_lock and __tsan_mutex_post_lock TSan ignores memory accesses, so conditions of
// LockWhen/Await, which the library evaluates while acquiring, are not checked themselves (they
// are evaluated with the mutex held). Accesses made without the mutex are still reported.
// Notification::HasBeenNotified() is inline and reads the flag directly: a thread that relies on it
// (rather than a wait) gets no edge; kvserve does not.
//
// Threads: the wrappers are called from any thread; the real-function lookups are function-local
// statics (thread-safe initialization).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

#define KVSERVE_TSAN_STR2(x) #x
#define KVSERVE_TSAN_STR(x) KVSERVE_TSAN_STR2(x)

// The real function whose Itanium-mangled name is `pattern` with "@" standing for the inline
// namespace (e.g. "_ZN4absl@5Mutex4LockEv" → "_ZN4absl7debian35Mutex4LockEv").
void* RealFunction(const char* pattern) {
  const char* ns = KVSERVE_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  std::string name;
  for (const char* p = pattern; *p != '\0'; ++p) {
    if (*p == '@') {
      name += std::to_string(std::strlen(ns)) + ns;
    } else {
      name += *p;
    }
  }
  void* real = dlsym(RTLD_NEXT, name.c_str());
  if (real == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in the Abseil libraries: %s\n", name.c_str(),
                 dlerror());
    std::abort();
  }
  return real;
}

// `static const auto real = REAL(type, "pattern");` inside each wrapper.
#define REAL(type, pattern) reinterpret_cast<type>(RealFunction(pattern))

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;

// Only the outermost wrapped call on a thread is annotated: the real functions call each other
// through the PLT (CondVar::WaitWithTimeout calls WaitWithDeadline, Notification locks its Mutex),
// and those inner calls are part of the outer operation, which is annotated as a whole.
thread_local int wrapped_call_depth = 0;

// Runs `call` (returning bool: whether it locked / was notified / met its condition; true for
// calls that always do) and, if outermost, `before()` first and `after(result)` last.
template <typename Before, typename Call, typename After>
bool Annotated(Before before, Call call, After after) {
  const bool outermost = wrapped_call_depth++ == 0;
  if (outermost) before();
  const bool result = call();
  if (outermost) after(result);
  --wrapped_call_depth;
  return result;
}

// A call that takes `mu` in `mode` (kRead or 0, plus kTry for TryLock: then only if it returns
// true).
template <typename Call>
bool AsLock(void* mu, unsigned mode, Call call) {
  return Annotated([&] { __tsan_mutex_pre_lock(mu, mode); }, call,
                   [&](bool locked) {
                     const unsigned failed =
                         (mode & kTry) != 0 && !locked ? __tsan_mutex_try_lock_failed : 0;
                     __tsan_mutex_post_lock(mu, mode | failed, 0);
                   });
}

template <typename Call>
bool AsUnlock(void* mu, unsigned mode, Call call) {
  return Annotated([&] { __tsan_mutex_pre_unlock(mu, mode); }, call,
                   [&](bool) { __tsan_mutex_post_unlock(mu, mode); });
}

// A wait that gives up `mu` (held as a writer) and holds it again on return.
template <typename Call>
bool UnlockedWhile(void* mu, Call call) {
  return Annotated(
      [&] {
        __tsan_mutex_pre_unlock(mu, 0);
        __tsan_mutex_post_unlock(mu, 0);
        __tsan_mutex_pre_lock(mu, 0);
      },
      call, [&](bool) { __tsan_mutex_post_lock(mu, 0, 0); });
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// --- Mutex: lock and unlock -------------------------------------------------------------------

void Mutex::Lock() {
  static const auto real = REAL(void (*)(Mutex*), "_ZN4absl@5Mutex4LockEv");
  AsLock(this, 0, [&] { return real(this), true; });
}

void Mutex::ReaderLock() {
  static const auto real = REAL(void (*)(Mutex*), "_ZN4absl@5Mutex10ReaderLockEv");
  AsLock(this, kRead, [&] { return real(this), true; });
}

bool Mutex::TryLock() {
  static const auto real = REAL(bool (*)(Mutex*), "_ZN4absl@5Mutex7TryLockEv");
  return AsLock(this, kTry, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() {
  static const auto real = REAL(bool (*)(Mutex*), "_ZN4absl@5Mutex13ReaderTryLockEv");
  return AsLock(this, kRead | kTry, [&] { return real(this); });
}

void Mutex::Unlock() {
  static const auto real = REAL(void (*)(Mutex*), "_ZN4absl@5Mutex6UnlockEv");
  AsUnlock(this, 0, [&] { return real(this), true; });
}

void Mutex::ReaderUnlock() {
  static const auto real = REAL(void (*)(Mutex*), "_ZN4absl@5Mutex12ReaderUnlockEv");
  AsUnlock(this, kRead, [&] { return real(this), true; });
}

// ~Mutex is not wrapped: gRPC frees objects holding mutexes after reference counting done with
// atomics inside libgrpc, and a __tsan_mutex_destroy there would be reported as a race with the
// last unlock. TSan drops a mutex's state when its memory is freed anyway.

// --- Mutex: conditional locking (the condition runs inside the library, unchecked) ------------
// The *WithTimeout / *WithDeadline forms return whether the condition held; the mutex is held on
// return either way.

void Mutex::LockWhen(const Condition& cond) {
  static const auto real =
      REAL(void (*)(Mutex*, const Condition&), "_ZN4absl@5Mutex8LockWhenERKNS0_9ConditionE");
  AsLock(this, 0, [&] { return real(this, cond), true; });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real =
      REAL(void (*)(Mutex*, const Condition&), "_ZN4absl@5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  AsLock(this, kRead, [&] { return real(this, cond), true; });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real =
      REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
           "_ZN4absl@5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool met = false;
  AsLock(this, 0, [&] { return met = real(this, cond, timeout), true; });
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real =
      REAL(bool (*)(Mutex*, const Condition&, absl::Time),
           "_ZN4absl@5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool met = false;
  AsLock(this, 0, [&] { return met = real(this, cond, deadline), true; });
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real =
      REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
           "_ZN4absl@5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool met = false;
  AsLock(this, kRead, [&] { return met = real(this, cond, timeout), true; });
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real =
      REAL(bool (*)(Mutex*, const Condition&, absl::Time),
           "_ZN4absl@5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool met = false;
  AsLock(this, kRead, [&] { return met = real(this, cond, deadline), true; });
  return met;
}

// Await* is called with the mutex held (as a writer: kvserve never awaits under a reader lock).
void Mutex::Await(const Condition& cond) {
  static const auto real =
      REAL(void (*)(Mutex*, const Condition&), "_ZN4absl@5Mutex5AwaitERKNS0_9ConditionE");
  UnlockedWhile(this, [&] { return real(this, cond), true; });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real =
      REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
           "_ZN4absl@5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return UnlockedWhile(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = REAL(bool (*)(Mutex*, const Condition&, absl::Time),
                                "_ZN4absl@5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return UnlockedWhile(this, [&] { return real(this, cond, deadline); });
}

// --- CondVar: the wait gives up the (writer-held) mutex and retakes it ------------------------

void CondVar::Wait(Mutex* mu) {
  static const auto real = REAL(void (*)(CondVar*, Mutex*), "_ZN4absl@7CondVar4WaitEPNS0_5MutexE");
  UnlockedWhile(mu, [&] { return real(this, mu), true; });
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static const auto real = REAL(bool (*)(CondVar*, Mutex*, absl::Duration),
                                "_ZN4absl@7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return UnlockedWhile(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static const auto real = REAL(bool (*)(CondVar*, Mutex*, absl::Time),
                                "_ZN4absl@7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return UnlockedWhile(mu, [&] { return real(this, mu, deadline); });
}

// --- Notification: Notify → a wait that returns notified ---------------------------------------

void Notification::Notify() {
  static const auto real = REAL(void (*)(Notification*), "_ZN4absl@12Notification6NotifyEv");
  Annotated([&] { __tsan_release(this); }, [&] { return real(this), true; }, [](bool) {});
}

void Notification::WaitForNotification() const {
  static const auto real =
      REAL(void (*)(const Notification*), "_ZNK4absl@12Notification19WaitForNotificationEv");
  auto* self = const_cast<Notification*>(this);
  Annotated([] {}, [&] { return real(this), true; }, [&](bool) { __tsan_acquire(self); });
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  static const auto real =
      REAL(bool (*)(const Notification*, absl::Duration),
           "_ZNK4absl@12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  auto* self = const_cast<Notification*>(this);
  return Annotated([] {}, [&] { return real(this, timeout); },
                   [&](bool notified) {
                     if (notified) __tsan_acquire(self);
                   });
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  static const auto real =
      REAL(bool (*)(const Notification*, absl::Time),
           "_ZNK4absl@12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  auto* self = const_cast<Notification*>(this);
  return Annotated([] {}, [&] { return real(this, deadline); },
                   [&](bool notified) {
                     if (notified) __tsan_acquire(self);
                   });
}

ABSL_NAMESPACE_END
}  // namespace absl
