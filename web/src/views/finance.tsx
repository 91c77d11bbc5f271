export function FinancePage() {
  return <p>Übersicht</p>
}
