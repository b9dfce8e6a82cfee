import { chmod, chown, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatorTls, defaultSimulatorTlsDir, isSimulatorTlsError } from "../../src/simulator/tls.js";

const uid = process.getuid?.();
const posix = uid !== undefined;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "referrals-export-tls-test-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function refusal(dir: string): Promise<Error> {
  const error = await createSimulatorTls(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSimulatorTlsError(error)).toBe(true);
  expect(error).toMatchObject({ reason: "unsafe_tls_folder" });
  return error as Error;
}

describe.runIf(posix)("the simulator's TLS folder", () => {
  it("is per user by default, created with mode 0700", async () => {
    const dir = defaultSimulatorTlsDir();
    expect(dir).toBe(join(tmpdir(), `referrals-export-tls-${uid}`));
    const tls = await createSimulatorTls();
    expect(tls.caFile.startsWith(`${dir}/`)).toBe(true);
    const stats = await lstat(dir);
    expect(stats.uid).toBe(uid);
    expect(stats.mode & 0o077).toBe(0);
  });

  it("a folder of its own with mode 0700 is accepted, and its files are private", async () => {
    const dir = join(root, "good");
    await mkdir(dir, { mode: 0o700 });
    const tls = await createSimulatorTls(dir);
    expect(tls.caCertPem).toContain("BEGIN CERTIFICATE");
    expect((await lstat(join(dir, "simulator-tls.json"))).mode & 0o077).toBe(0);
    // The second process of a run reads the same bundle back.
    expect((await createSimulatorTls(dir)).cert).toBe(tls.cert);
  });

  it("a folder anyone may write (0777) is refused before anything in it is read", async () => {
    const dir = join(root, "shared");
    await mkdir(dir);
    await chmod(dir, 0o777);
    await writeFile(join(dir, "simulator-tls.json"), '{"caCertPem":"planted","key":"k","cert":"c"}');
    const error = await refusal(dir);
    expect(error.message).toBe(
      `The simulator TLS folder ${dir} can be written by group or others (mode 777); remove it (it is regenerated) or use another folder, or chmod go-w it`,
    );
  });

  it("a group-writable folder is refused too", async () => {
    const dir = join(root, "group");
    await mkdir(dir);
    await chmod(dir, 0o770);
    expect((await refusal(dir)).message).toContain("(mode 770)");
  });

  it("a bundle or CA file others may write is refused, in a folder of its own", async () => {
    const dir = join(root, "loose-files");
    await mkdir(dir, { mode: 0o700 });
    await createSimulatorTls(dir);
    await chmod(join(dir, "simulator-tls.json"), 0o666);
    expect((await refusal(dir)).message).toContain(`simulator TLS file ${join(dir, "simulator-tls.json")}`);
    await chmod(join(dir, "simulator-tls.json"), 0o600);
    await chmod(join(dir, "simulator-ca.pem"), 0o646);
    expect((await refusal(dir)).message).toContain(`simulator TLS file ${join(dir, "simulator-ca.pem")}`);
  });

  it("a folder that is a symbolic link is refused", async () => {
    const target = join(root, "target");
    await mkdir(target, { mode: 0o700 });
    const link = join(root, "link");
    await symlink(target, link);
    expect((await refusal(link)).message).toContain("is a symbolic link");
  });

  it.runIf(uid === 0)("a folder another user owns is refused", async () => {
    const dir = join(root, "someone-else");
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, 1, 1);
    expect((await refusal(dir)).message).toContain("belongs to user 1, not to this user (0)");
  });
});
