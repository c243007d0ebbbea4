# gdb helpers for urt (load with: source perf/gdb/urt.py).
#   urt tasks      list the tasks of the current thread's loop
#   urt bt <id>    backtrace of a task: a suspended one is unwound by
#                  loading its saved registers into the current frame for
#                  the duration of the command (live processes, x86_64)
# Needs urt built with debug info (the default RelWithDebInfo does).
import gdb

def current_loop():
    try:
        loop = gdb.parse_and_eval("urt__this_loop")
    except gdb.error as e:
        raise gdb.GdbError("urt: cannot read urt__this_loop (%s); is urt built with -g?" % e)
    if int(loop) == 0:
        raise gdb.GdbError("urt: this thread runs no loop")
    return loop


def tasks(loop):
    t = loop["all"]
    while int(t) != 0:
        yield t
        t = t["all_next"]


def describe(t, loop):
    state = str(t["state"]).replace("URT_T_", "").lower()  # the enum's names
    if int(t) == int(loop["current"]):
        state = "running"
    s = '%-6d %-24s %-8s' % (int(t["id"]), '"%s"' % t["name"].string(), state)
    if state == "parked":
        what = t["wait_what"]
        s += " on %s" % (what.string() if int(what) else "?")
        if int(t["wait_fd"]) >= 0:
            s += " fd %d" % int(t["wait_fd"])
    return s


class UrtPrefix(gdb.Command):
    """urt runtime helpers: urt tasks, urt bt <task id>."""

    def __init__(self):
        super().__init__("urt", gdb.COMMAND_USER, prefix=True)


class UrtTasks(gdb.Command):
    """List the tasks of the current thread's urt loop."""

    def __init__(self):
        super().__init__("urt tasks", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        loop = current_loop()
        print("loop %d" % int(loop["id"]))
        for t in tasks(loop):
            print("  " + describe(t, loop))


class UrtBt(gdb.Command):
    """Print the backtrace of the urt task with the given id."""

    def __init__(self):
        super().__init__("urt bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: urt bt <task id>")
        want = int(arg.strip(), 0)
        loop = current_loop()
        for t in tasks(loop):
            if int(t["id"]) == want:
                break
        else:
            raise gdb.GdbError("urt: no task %d on this loop" % want)
        print(describe(t, loop))
        if int(t) == int(loop["current"]):
            gdb.execute("backtrace")  # it is the code running now
            return
        if gdb.lookup_type("long").sizeof != 8 or "x86-64" not in gdb.selected_inferior().architecture().name():
            raise gdb.GdbError("urt bt: suspended tasks can be unwound on x86_64 only")
        # the frame urt__ctx_jump left: [r15][r14][r13][r12][rbx][rbp][ret]
        sp = int(t["regs"]["sp"])
        u64 = gdb.lookup_type("unsigned long").pointer()
        words = gdb.Value(sp).cast(u64)
        rbp, rip = int(words[5]), int(words[6])
        gdb.execute("frame 0", to_string=True)
        saved = {r: int(gdb.parse_and_eval("$" + r)) for r in ("rsp", "rbp", "rip")}
        try:
            gdb.execute("set $rsp = %d" % (sp + 56))
            gdb.execute("set $rbp = %d" % rbp)
            gdb.execute("set $rip = %d" % rip)
            gdb.execute("backtrace")
        finally:
            for r, v in saved.items():
                gdb.execute("set $%s = %d" % (r, v))
            gdb.execute("frame 0", to_string=True)


UrtPrefix()
UrtTasks()
UrtBt()
