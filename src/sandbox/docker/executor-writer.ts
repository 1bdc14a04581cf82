/**
 * The executor's file writer (part of EXECUTOR_SCRIPT, see executor-script.ts): the same rules as
 * the Python writer of write-file-script.ts, which one `docker exec` runs when there is no
 * executor, without starting an interpreter per write. It runs as the sandbox user and:
 *  - walks the path one directory at a time from a directory fd, opening each step with
 *    O_PATH | O_DIRECTORY | O_NOFOLLOW and creating missing ones, and refuses a symbolic link
 *    anywhere in it, the last component included, naming the link's target;
 *  - writes a temporary file beside the target and renames it over the target;
 *  - keeps the mode of a file it replaces; a new file is 0644, new directories 0755 (umask 022).
 * Node has no openat(), so each step names `/proc/self/fd/<dirfd>/<name>`: the kernel resolves the
 * fd's magic link to the directory the fd holds (wherever it has moved since) and looks `name` up
 * in it, which is openat(dirfd, name) — no check-then-use race, as each step opens what it checked.
 *
 * Plain ES2020 in a string; defines writeFileNoFollow(path, data) → an error message or null.
 */
export const WRITER_JS = `
// O_PATH is not in fs.constants; this is its value on Linux x86-64 and arm64.
const O_PATH = 0o10000000;
const DIR_FLAGS = O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
const STRERROR = {
  EACCES: 'Permission denied', EPERM: 'Operation not permitted', ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded', EROFS: 'Read-only file system', ENAMETOOLONG: 'File name too long',
  ENOENT: 'No such file or directory', ENOTDIR: 'Not a directory', EISDIR: 'Is a directory',
  EEXIST: 'File exists', EIO: 'Input/output error', ETXTBSY: 'Text file busy', EBUSY: 'Device or resource busy',
  ELOOP: 'Too many levels of symbolic links', EMFILE: 'Too many open files', ENOMEM: 'Cannot allocate memory',
};
function strerror(error) { return STRERROR[error && error.code] || String((error && error.code) || error); }
function at(dirfd, name) { return '/proc/self/fd/' + dirfd + '/' + name; }
function linkTarget(dirfd, name) {
  try { return fs.readlinkSync(at(dirfd, name)); } catch (e) { return null; }
}
function linkRefusal(where, target) {
  return where + ' is a symbolic link (to ' + target + '); files are not written through symbolic links, write to the path it points to instead';
}

function writeFileNoFollow(path, data) {
  const parts = path.split('/');
  if (parts.length < 2 || parts[0] !== '' || parts.slice(1).some((p) => p === '' || p === '.' || p === '..')) {
    return JSON.stringify(path) + ' is not a normalized absolute file path';
  }
  let dirfd = fs.openSync('/', DIR_FLAGS);
  try {
    let where = '';
    for (const name of parts.slice(1, -1)) {
      where += '/' + name;
      let fd;
      try {
        try {
          fd = fs.openSync(at(dirfd, name), DIR_FLAGS);
        } catch (e) {
          if (e.code !== 'ENOENT') throw e;
          try { fs.mkdirSync(at(dirfd, name), 0o777); } catch (e2) { if (e2.code !== 'EEXIST') throw e2; }
          fd = fs.openSync(at(dirfd, name), DIR_FLAGS);
        }
      } catch (e) {
        if (e.code === 'ELOOP' || e.code === 'ENOTDIR') {
          const target = linkTarget(dirfd, name);
          return target !== null ? linkRefusal(where, target) : where + ' is not a directory';
        }
        return where + ': ' + strerror(e);
      }
      fs.closeSync(dirfd);
      dirfd = fd;
    }

    const leaf = parts[parts.length - 1];
    where += '/' + leaf;
    let st = null;
    try {
      st = fs.lstatSync(at(dirfd, leaf));
    } catch (e) {
      if (e.code !== 'ENOENT') return where + ': ' + strerror(e);
    }
    if (st !== null) {
      if (st.isSymbolicLink()) {
        const target = linkTarget(dirfd, leaf);
        if (target !== null) return linkRefusal(where, target);
      }
      if (st.isDirectory()) return where + ' is a directory; give the path of a file';
      if (!st.isFile()) return where + ' is not a regular file';
    }
    const mode = st !== null ? st.mode & 0o7777 : 0o644;

    const tmp = '.telecoder-write-' + process.pid + '-' + crypto.randomBytes(4).toString('hex');
    let fd;
    try {
      fd = fs.openSync(at(dirfd, tmp), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      return where + ': ' + strerror(e);
    }
    try {
      let offset = 0;
      while (offset < data.length) offset += fs.writeSync(fd, data, offset, data.length - offset);
      fs.fchmodSync(fd, mode);
      fs.closeSync(fd);
      fd = undefined;
      fs.renameSync(at(dirfd, tmp), at(dirfd, leaf));
    } catch (e) {
      if (fd !== undefined) { try { fs.closeSync(fd); } catch (e2) {} }
      try { fs.unlinkSync(at(dirfd, tmp)); } catch (e2) {}
      return where + ': ' + strerror(e);
    }
    return null;
  } finally {
    try { fs.closeSync(dirfd); } catch (e) {}
  }
}
`;
