; KIMT's Windows setup (Inno Setup 6): a per-user install that needs no admin rights.
;
;   python -m PyInstaller --noconfirm build.spec                 (makes dist\kimt\)
;   iscc /DAppVersion=0.0.0 installers\windows\kimt.iss          (makes dist\kimt-0.0.0-windows-x64-setup.exe)
;
; The release workflow (.github/workflows/release.yml) runs both, passing the
; version from kimt/__init__.py. Installs into %LOCALAPPDATA%\Programs\KIMT with
; a Start-menu entry, an optional desktop icon and an uninstaller (Settings, Apps).
; AppMutex is the name of the mutex KIMT holds while it runs (kimt/system/locks.py
; LOCK_NAME; tests/test_installers.py checks that they match): setup and uninstall
; wait, asking the user to close KIMT first.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z installers\windows\kimt.iss
#endif
#define AppName "KIMT"
#define AppMutexName "KIMT-Mail-Migration-SingleInstance"
#define WizardExe "kimtw.exe"

[Setup]
; AppId identifies KIMT across versions (updates and the uninstaller): never change it.
AppId={{B03842CC-B3DB-44E5-9C84-5083CD68E2EC}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The KIMT authors
AppComments=Moves whole mail accounts from an old IMAP server to a new one.
VersionInfoVersion={#AppVersion}
; Per user, no elevation: with "lowest", {autopf} is %LOCALAPPDATA%\Programs and
; {autoprograms} the user's own Start menu.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
AppMutex={#AppMutexName}
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
SourceDir=..\..
OutputDir=dist
OutputBaseFilename=kimt-{#AppVersion}-windows-x64-setup
SetupIconFile=assets\kimt.ico
UninstallDisplayIcon={app}\{#WizardExe}
UninstallDisplayName={#AppName} {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An update replaces the bundled libraries whole: nothing of an older version stays behind.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
; dist\kimt\ is PyInstaller's onedir output: kimt.exe (command line), kimtw.exe (the wizard), _internal\
Source: "dist\kimt\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#WizardExe}"; Comment: "Move mail accounts to a new server"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#WizardExe}"; Comment: "Move mail accounts to a new server"; Tasks: desktopicon

[Run]
Filename: "{app}\{#WizardExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
