// Validate one .glb with the Khronos glTF validator (npm gltf-validator); prints its JSON report.
// usage: node tests/model/gltf_validate.mjs FILE.glb
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const path = process.argv[2];
const bytes = new Uint8Array(await readFile(path));
const report = await validator.validateBytes(bytes, { uri: path, maxIssues: 100 });
console.log(JSON.stringify(report, null, 1));
