"""`python -m kefer_torch.torchrun ...` = `torchrun ...`, working around one torch < 2.0 bug.

torch 1.13's launcher (Debian 12's python3-torch) parses its --redirects/--tee values by iterating the
IntFlag `Std`; on Python >= 3.11 that iteration skips the zero member NONE, so the default "0" parses to
None and torchrun fails before it starts a worker ("'NoneType' object has no attribute 'get'"). When that
is the case, Std.from_str is replaced by an equivalent that builds the flag from the number.
"""
import re
import sys


def _patch():
    from torch.distributed.elastic.multiprocessing import api

    Std = api.Std
    try:
        if Std.from_str("0") is not None:
            return
    except Exception:
        return

    def from_str(vm):
        if re.match(api._VALUE_REGEX, vm):
            return Std(int(vm))
        if re.match(api._MAPPING_REGEX, vm):
            return {int(i): Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        raise ValueError(f"{vm} does not match: <{api._VALUE_REGEX}> or <{api._MAPPING_REGEX}>")

    Std.from_str = staticmethod(from_str)


def main():
    _patch()
    from torch.distributed.run import main as torchrun_main

    torchrun_main()


if __name__ == "__main__":
    sys.exit(main())
