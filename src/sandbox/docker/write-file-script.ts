/**
 * The program that writes one file inside the sandbox, run as the sandbox user with the content on
 * stdin, by one `docker exec` when the sandbox has no resident executor (whose own writer,
 * executor-writer.ts, keeps the same rules; change both together). Docker's own copy (putArchive) extracts as root and follows symbolic links in the
 * container, so an agent that planted `x -> /usr/bin` could replace /usr/bin/timeout through it;
 * this writer instead:
 *  - runs as uid 1000, so whatever is root-owned stays unwritable whatever the path says;
 *  - walks the path one directory at a time with O_NOFOLLOW (openat), creating missing ones, and
 *    refuses a symbolic link anywhere in it, the last component included, naming the link's target
 *    so the agent can write the real path (no check-then-use race: each step opens what it checked);
 *  - writes a temporary file beside the target and renames it over the target, so a reader never
 *    sees half a file and a failed write leaves the old one;
 *  - keeps the mode of a file it replaces; a new file is 0644, new directories 0755.
 * Python because the sandbox image has it and it exposes openat/mkdirat/renameat (dir_fd); `-I -S`
 * keeps the agent's PYTHON* variables and site-packages out of it.
 */
const WRITER = String.raw`
import errno, os, stat, sys

def fail(message):
    sys.stderr.write(message + '\n')
    sys.exit(1)

path, size = sys.argv[1], int(sys.argv[2])
# All input is read before anything can fail: exiting early would cut the server off mid-send.
data = sys.stdin.buffer.read(size)
if len(data) != size:
    fail('the content arrived incomplete (%d of %d bytes)' % (len(data), size))
parts = path.split('/')
if len(parts) < 2 or parts[0] != '' or any(p in ('', '.', '..') for p in parts[1:]):
    fail('%r is not a normalized absolute file path' % path)

def refuse_link(where, name, dirfd):
    try:
        target = os.readlink(name, dir_fd=dirfd)
    except OSError:
        return False
    fail('%s is a symbolic link (to %s); files are not written through symbolic links, write to the path it points to instead' % (where, target))

DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
dirfd = os.open('/', DIR)
where = ''
for name in parts[1:-1]:
    where += '/' + name
    try:
        try:
            fd = os.open(name, DIR, dir_fd=dirfd)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o777, dir_fd=dirfd)
            except FileExistsError:
                pass
            fd = os.open(name, DIR, dir_fd=dirfd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            refuse_link(where, name, dirfd)
            fail('%s is not a directory' % where)
        fail('%s: %s' % (where, e.strerror))
    os.close(dirfd)
    dirfd = fd

leaf = parts[-1]
where += '/' + leaf
try:
    st = os.stat(leaf, dir_fd=dirfd, follow_symlinks=False)
except FileNotFoundError:
    st = None
except OSError as e:
    fail('%s: %s' % (where, e.strerror))
if st is not None:
    if stat.S_ISLNK(st.st_mode):
        refuse_link(where, leaf, dirfd)
    if stat.S_ISDIR(st.st_mode):
        fail('%s is a directory; give the path of a file' % where)
    if not stat.S_ISREG(st.st_mode):
        fail('%s is not a regular file' % where)
mode = stat.S_IMODE(st.st_mode) if st is not None else 0o644

tmp = '.telecoder-write-%d-%s' % (os.getpid(), os.urandom(4).hex())
try:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
except OSError as e:
    fail('%s: %s' % (where, e.strerror))
try:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fchmod(fd, mode)
    os.close(fd)
    os.rename(tmp, leaf, src_dir_fd=dirfd, dst_dir_fd=dirfd)
except OSError as e:
    try:
        os.unlink(tmp, dir_fd=dirfd)
    except OSError:
        pass
    fail('%s: %s' % (where, e.strerror))
`;

/** argv that writes `size` bytes from stdin to `path` (absolute and normalized) as described above. */
export function writeFileArgv(path: string, size: number): string[] {
  return ['python3', '-I', '-S', '-c', WRITER, path, String(size)];
}
