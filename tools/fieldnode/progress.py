"""A one-line progress bar on stderr (a plain line per step when stderr is not a terminal)."""

import sys


class Progress:
    def __init__(self, total_bytes, total_items, width=30, stream=None):
        self.total = max(total_bytes, 1)
        self.items = total_items
        self.done_bytes = 0
        self.done_items = 0
        self.width = width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def bytes_callback(self, base):
        """A callback(written, size) for one item that starts at `base` bytes done."""
        def cb(written, size):
            self.done_bytes = base + written
            if self.tty:
                self._draw()
        return cb

    def item_done(self, label):
        self.done_items += 1
        if self.tty:
            self._draw(label)
        else:
            print("[%d/%d] %s" % (self.done_items, self.items, label), file=self.stream)

    def _draw(self, label=""):
        filled = self.width * self.done_bytes // self.total
        self.stream.write("\r[%s%s] %3d%% %d/%d %-40.40s" % (
            "#" * filled, "-" * (self.width - filled), 100 * self.done_bytes // self.total,
            self.done_items, self.items, label))
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
