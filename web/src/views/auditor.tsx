export function AuditorPage() {
  return <p>Prüfung</p>
}
