# Device-test runner, executed by the micropython binary (the sim board's runtime):
#   micropython run.py MODULE --list     print the module's test function names
#   micropython run.py MODULE FUNC       run one test; exit 1 with the MicroPython traceback on failure
import sys


def main():
    mod = __import__(sys.argv[1])
    if sys.argv[2] == "--list":
        for name in sorted(dir(mod)):
            if name.startswith("test_"):
                print(name)
        return 0
    try:
        getattr(mod, sys.argv[2])()
    except Exception as e:
        sys.print_exception(e)
        return 1
    return 0


sys.exit(main())
