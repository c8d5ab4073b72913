# A "board" whose filesystem is small: the unix port's REPL run with `-i` on this
# script works in a littlefs (os.VfsLfs2, as on ESP32 and RP2; FS=fat: os.VfsFat) of
# BLOCKS blocks of 512 B held in RAM, mounted at /board and made the cwd. The
# environment sets BLOCKS and FS.
import os


class _RAMBlocks:  # MicroPython's extended block-device protocol
    def __init__(self, size, n):
        self.size = size
        self.data = bytearray(size * n)

    def readblocks(self, n, buf, off=0):
        a = n * self.size + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        if off is None:
            self.ioctl(6, n)
            off = 0
        a = n * self.size + off
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.size
        if op == 5:
            return self.size
        if op == 6:
            self.data[arg * self.size:(arg + 1) * self.size] = b"\xff" * self.size
            return 0


_bd = _RAMBlocks(512, int(os.getenv("BLOCKS")))
_fs = os.VfsFat if os.getenv("FS") == "fat" else os.VfsLfs2
_fs.mkfs(_bd)
os.mount(_fs(_bd), "/board")
os.chdir("/board")
del _bd, _fs, _RAMBlocks
