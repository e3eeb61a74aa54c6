#!/usr/bin/env python3
"""Structural checks of seqlm's package recipes that need no package manager (ctests
conan_recipe_structure and vcpkg_recipe_structure, label package):

  check_packaging.py conan REPO   conanfile.py and test_package/ as conan-center-index's
                                   header-only template has them
  check_packaging.py vcpkg REPO   ports/seqlm (vcpkg.json keys, the portfile's calls, every
                                   -DSEQLM_* option it passes exists in CMakeLists.txt) and
                                   its local-source variant tests/vcpkg/seqlm

Reads the files as text and Python syntax trees (ast) only: Conan and vcpkg themselves are not
needed.
Prints every problem found and exits 1, or prints a summary and exits 0.
"""
import ast
import json
import os
import re
import sys


def project_version(repo):
    with open(os.path.join(repo, "CMakeLists.txt"), encoding="utf-8") as f:
        match = re.search(r"project\(seqlm VERSION (\d+\.\d+\.\d+)", f.read())
    return match.group(1) if match else None


def cmake_options(repo):
    """Names of the option()s and cache variables declared in the top CMakeLists.txt."""
    with open(os.path.join(repo, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    return set(re.findall(r"option\((\w+)", text)) | set(re.findall(r"set\((\w+) [^)]*CACHE", text))


def call_names(node):
    """The dotted names of every call inside node, e.g. {"self.info.clear", "check_min_cppstd"}."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            parts, func = [], sub.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            names.add(".".join(reversed(parts)))
    return names


def check_conan(repo, problems):
    path = os.path.join(repo, "conanfile.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    if len(classes) != 1:
        problems.append(f"conanfile.py: expected one recipe class, found {len(classes)}")
        return
    recipe = classes[0]
    attributes = {}
    for node in recipe.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                attributes[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                attributes[node.targets[0].id] = None
    methods = {n.name: n for n in recipe.body if isinstance(n, ast.FunctionDef)}
    expected = {"name": "seqlm", "package_type": "header-library", "license": "MIT",
                "settings": ("os", "arch", "compiler", "build_type")}
    for key, value in expected.items():
        if attributes.get(key) != value:
            problems.append(f"conanfile.py: {key} = {attributes.get(key)!r}, expected {value!r}")
    if "openmp" not in (attributes.get("options") or {}):
        problems.append("conanfile.py: no 'openmp' option")
    for method in ("requirements", "package_id", "validate", "layout", "package", "package_info"):
        if method not in methods:
            problems.append(f"conanfile.py: no {method}() method")
    if problems:
        return
    if "self.info.clear" not in call_names(methods["package_id"]):
        problems.append("conanfile.py: package_id() must call self.info.clear() (header-only)")
    if "check_min_cppstd" not in call_names(methods["validate"]):
        problems.append("conanfile.py: validate() must call check_min_cppstd")
    source = ast.unparse(recipe)
    if "_min_cppstd" in source and not re.search(r"def _min_cppstd\(self\):\s*return 17", source):
        problems.append("conanfile.py: _min_cppstd must be 17")
    requires = {}
    for call in ast.walk(methods["requirements"]):
        if isinstance(call, ast.Call) and call_names(call) >= {"self.requires"} and call.args:
            reference = ast.literal_eval(call.args[0])
            keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            requires[reference.split("/")[0]] = (reference, keywords)
    for dependency in ("eigen", "xsimd"):
        if dependency not in requires:
            problems.append(f"conanfile.py: does not require {dependency}")
        elif requires[dependency][1].get("transitive_headers") is not True:
            problems.append(f"conanfile.py: {requires[dependency][0]} needs transitive_headers=True")
    if "eigen" in requires and requires["eigen"][0] != "eigen/3.4.0":
        problems.append(f"conanfile.py: requires {requires['eigen'][0]}, expected eigen/3.4.0")
    properties = {}
    for call in ast.walk(methods["package_info"]):
        if isinstance(call, ast.Call) and "self.cpp_info.set_property" in call_names(call):
            properties[ast.literal_eval(call.args[0])] = ast.literal_eval(call.args[1])
    for key, value in {"cmake_file_name": "seqlm", "cmake_target_name": "seqlm::seqlm",
                       "pkg_config_name": "seqlm"}.items():
        if properties.get(key) != value:
            problems.append(f"conanfile.py: set_property({key!r}) is {properties.get(key)!r}, expected {value!r}")
    for name in ("conanfile.py", "CMakeLists.txt", "test_package.cpp"):
        if not os.path.isfile(os.path.join(repo, "test_package", name)):
            problems.append(f"test_package/{name} is missing")
    test_recipe = os.path.join(repo, "test_package", "conanfile.py")
    if os.path.isfile(test_recipe):
        with open(test_recipe, encoding="utf-8") as f:
            text = f.read()
        ast.parse(text, test_recipe)
        if "tested_reference_str" not in text:
            problems.append("test_package/conanfile.py does not require self.tested_reference_str")
    if "get" not in call_names(methods.get("source", recipe)):
        problems.append("conanfile.py: source() must get() the release archive named in conandata.yml")
    # conandata.yml: every release as conan-center-index lists it (quoted version, url, sha256).
    conandata = os.path.join(repo, "conandata.yml")
    releases = []
    if os.path.isfile(conandata):
        with open(conandata, encoding="utf-8") as f:
            text = f.read()
        releases = re.findall(r'^  "([0-9.]+)":\n    url: "([^"]+)"\n    sha256: "([^"]*)"$', text, re.M)
    if not releases:
        problems.append("conandata.yml: no release under sources: (\"x.y.z\": url, sha256)")
    for version, url, sha256 in releases:
        if not url.endswith(f"/v{version}.tar.gz"):
            problems.append(f"conandata.yml: {version}: url {url} is not the archive of tag v{version}")
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            problems.append(f"conandata.yml: {version}: sha256 {sha256!r} is not 64 hex digits")
    if not problems:
        print(f"conan: conanfile.py (seqlm, header-library, requires {', '.join(r for r, _ in requires.values())})"
              " and test_package/ pass the structural checks")


def check_vcpkg(repo, problems):
    port = os.path.join(repo, "ports", "seqlm")
    with open(os.path.join(port, "vcpkg.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    allowed = {"name", "version", "version-semver", "version-date", "version-string", "port-version",
               "description", "homepage", "license", "supports", "dependencies", "features",
               "default-features", "documentation", "maintainers", "builtin-baseline", "overrides"}
    for key in sorted(set(manifest) - allowed):
        problems.append(f"vcpkg.json: unknown key {key!r}")
    for key in ("name", "version", "description", "homepage", "license", "supports", "dependencies"):
        if key not in manifest:
            problems.append(f"vcpkg.json: no {key!r}")
    if manifest.get("name") != "seqlm":
        problems.append(f"vcpkg.json: name {manifest.get('name')!r}, expected 'seqlm'")
    version = project_version(repo)
    if manifest.get("version") != version:
        problems.append(f"vcpkg.json: version {manifest.get('version')!r}, CMakeLists.txt says {version!r}")
    dependencies = {}
    for dependency in manifest.get("dependencies", []):
        if isinstance(dependency, str):
            dependency = {"name": dependency}
        dependencies[dependency.get("name")] = dependency
    for name in ("eigen3", "xsimd"):
        if name not in dependencies:
            problems.append(f"vcpkg.json: no dependency {name!r}")
    for name in ("vcpkg-cmake", "vcpkg-cmake-config"):
        if dependencies.get(name, {}).get("host") is not True:
            problems.append(f"vcpkg.json: {name!r} must be a host dependency")
    if "openmp" not in manifest.get("features", {}):
        problems.append("vcpkg.json: no 'openmp' feature")
    with open(os.path.join(port, "portfile.cmake"), encoding="utf-8") as f:
        portfile = f.read()
    for call in ("vcpkg_from_github", "vcpkg_check_features", "vcpkg_cmake_configure", "vcpkg_cmake_install",
                 "vcpkg_cmake_config_fixup", "vcpkg_fixup_pkgconfig", "vcpkg_install_copyright"):
        if call + "(" not in portfile:
            problems.append(f"portfile.cmake: no {call}()")
    sha512 = re.search(r"^\s+SHA512\s+(\S+)", portfile, re.M)
    if not sha512 or not re.fullmatch(r"[0-9a-f]{128}", sha512.group(1)):
        problems.append("portfile.cmake: SHA512 of the release archive is not 128 hex digits")
    if 'REF "v${VERSION}"' not in portfile:
        problems.append('portfile.cmake: REF is not the version\'s tag "v${VERSION}"')
    options = cmake_options(repo)
    passed = set(re.findall(r"-D(SEQLM_\w+)=", portfile)) | set(re.findall(r"^\s+\w+ (SEQLM_\w+)\s*$", portfile, re.M))
    for option in sorted(passed - options):
        problems.append(f"portfile.cmake: option {option} does not exist in CMakeLists.txt")
    for off in ("SEQLM_BUILD_TESTS", "SEQLM_BUILD_EXAMPLES", "SEQLM_BUILD_BENCHMARKS"):
        if f"-D{off}=OFF" not in portfile:
            problems.append(f"portfile.cmake: does not pass -D{off}=OFF")
    if not os.path.isfile(os.path.join(port, "usage")):
        problems.append("ports/seqlm/usage is missing")
    local = os.path.join(repo, "tests", "vcpkg", "seqlm")
    for name in ("vcpkg.json", "usage"):
        if os.path.realpath(os.path.join(local, name)) != os.path.realpath(os.path.join(port, name)):
            problems.append(f"tests/vcpkg/seqlm/{name} must be a link to ports/seqlm/{name}")
    if not problems:
        print(f"vcpkg: ports/seqlm (seqlm {version}, options {', '.join(sorted(passed))}) and "
              "tests/vcpkg/seqlm pass the structural checks")


def main():
    if sys.version_info < (3, 9):  # ast.unparse
        print(f"SKIPPED: check_packaging.py needs Python 3.9 or later, this is {sys.version.split()[0]}")
        return 77
    checks = {"conan": check_conan, "vcpkg": check_vcpkg}
    if len(sys.argv) != 3 or sys.argv[1] not in checks:
        print(__doc__)
        return 2
    repo, problems = sys.argv[2], []
    checks[sys.argv[1]](repo, problems)
    for problem in problems:
        print("problem:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
